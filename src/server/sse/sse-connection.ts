/**
 * One open SSE response, as a subscription's sink. A write is one
 * `res.write` of a frame buffer shared by every recipient; frames due in the
 * same tick are corked into one socket write by the hub. A connection never
 * asks its subscription to slow down: a client whose backlog passes the
 * hub's byte limit is disconnected and resumes from its last id instead.
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
  /** True while a cork waits for the hub's end-of-tick flush. */
  corked = false;
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
    return true;
  }

  /** Writes raw frame bytes; enforces the backlog limit. */
  send(frame: Buffer): void {
    if (this.closed) return;
    this.hub.cork(this);
    if (!this.res.write(frame) && this.stalledSince === 0) this.stalledSince = Date.now();
    if (this.res.writableLength > this.hub.maxBacklogBytes) this.hub.disconnect(this, "slow_consumer");
  }

  /** Binds the open subscription; one that opened after the client left is closed at once. */
  attach(subscription: Subscription): void {
    this.subscription = subscription;
    if (this.closed) subscription.close("client_closed");
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
