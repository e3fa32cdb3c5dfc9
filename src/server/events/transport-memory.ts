/**
 * One process: publishing is a synchronous call of every handler, so order
 * is the order of `publish` calls, which the replay log's id order decides.
 */
import type { EventEnvelope } from "./envelope";
import type { EventTransport } from "./transport";

export class MemoryTransport implements EventTransport {
  private readonly handlers = new Set<(envelope: EventEnvelope) => void>();

  publish(envelope: EventEnvelope): void {
    for (const handler of this.handlers) handler(envelope);
  }

  signal(envelope: EventEnvelope): void {
    this.publish(envelope);
  }

  onEnvelope(handler: (envelope: EventEnvelope) => void): () => void {
    // Wrapped so the same function registered twice is two registrations.
    const registration = (envelope: EventEnvelope) => handler(envelope);
    this.handlers.add(registration);
    return () => this.handlers.delete(registration);
  }

  /** Registered handlers (one per bus); exposed for leak checks. */
  get handlerCount(): number {
    return this.handlers.size;
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
