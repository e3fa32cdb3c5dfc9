/**
 * One open SSE response, as a subscription's sink. A write is one
 * `res.write` of a frame buffer shared by every recipient; Node corks a
 * response's socket until the end of the tick, so frames due together leave
 * in one socket write.
 *
 * A replay is paced by the socket: past half the byte limit the subscription
 * stops and continues from the log once the socket drains. Live delivery
 * never waits: a client whose backlog passes the limit is disconnected and
 * resumes from its last id.
 */
import type { ServerResponse } from "node:http";

import type { StreamItem, Subscription, SubscriptionSink } from "~/server/events";
import { itemFrame } from "./frames";
import type { SseHub } from "./sse-hub";

export class SseConnection implements SubscriptionSink {
  /** Set once the subscription is open. */
  subscription: Subscription | null = null;
  /** When the socket stopped taking writes (0: it takes them). */
  stalledSince = 0;
  private closed = false;

  constructor(
    readonly res: ServerResponse,
    private readonly hub: SseHub,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  write(item: StreamItem): boolean {
    this.send(itemFrame(item));
    return this.subscription?.isLive === true || this.res.writableLength < this.hub.maxBacklogBytes / 2;
  }

  /** Writes raw frame bytes; drops a live client past the backlog limit. */
  send(frame: Buffer): void {
    if (this.closed) return;
    if (!this.res.write(frame) && this.stalledSince === 0) this.stalledSince = Date.now();
    if (this.subscription?.isLive && this.res.writableLength > this.hub.maxBacklogBytes) {
      this.hub.disconnect(this, "slow_consumer");
    }
  }

  /** Binds the open subscription; one that opened after the client left is closed at once. */
  attach(subscription: Subscription): void {
    this.subscription = subscription;
    if (this.closed) subscription.close("client_closed");
    else this.drained();
  }

  /** The socket took its backlog: a replay that paused continues. */
  drained(): void {
    this.stalledSince = 0;
    this.subscription?.resume();
  }

  /** The subscription ended: an error is written as tRPC's `serialized-error`, then the response ends. */
  end(error?: unknown): void {
    if (this.closed) return;
    if (error !== undefined) this.send(this.hub.formatError(error));
    this.finish();
  }

  /** Ends the response without an error frame (the client reconnects and resumes). */
  finish(frame?: Buffer): void {
    if (this.closed) return;
    if (frame) this.send(frame);
    this.closed = true;
    this.hub.remove(this);
    this.res.end();
  }

  /** The client went away, or the hub dropped it: frees the subscription. */
  dropped(reason: "client_closed" | "slow_consumer" | "stalled"): void {
    if (!this.closed) {
      this.closed = true;
      this.hub.remove(this);
    }
    this.subscription?.close(reason);
  }
}
