/**
 * How a stamped envelope reaches every process that may hold recipients.
 * In-process: a node:events EventEmitter with one listener per bus (not one
 * per subscriber, so 10,000 subscribers never trip MaxListeners). A Redis
 * pub/sub transport implements the same interface for many instances.
 */
import { EventEmitter } from "node:events";

import type { EventEnvelope } from "./envelope";

export interface EventTransport {
  /** Hands the envelope to every instance's handler, this instance's included. */
  publish(envelope: EventEnvelope): void | Promise<void>;
  onEnvelope(handler: (envelope: EventEnvelope) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = "envelope";

export class InProcessTransport implements EventTransport {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  publish(envelope: EventEnvelope): void {
    this.emitter.emit(CHANNEL, envelope);
  }

  onEnvelope(handler: (envelope: EventEnvelope) => void): () => void {
    this.emitter.on(CHANNEL, handler);
    return () => this.emitter.off(CHANNEL, handler);
  }

  listenerCount(): number {
    return this.emitter.listenerCount(CHANNEL);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
