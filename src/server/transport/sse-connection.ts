/**
 * One open SSE response, as a subscription's sink. After the first frame
 * (which carries the headers through Node's response), frames go straight
 * to the socket, already in the response's transfer framing (an HTTP/1.1
 * chunk, built once per frame and shared by every recipient): one buffer and
 * one write per delivery, where `res.write` would add a chunk header and
 * trailer per write (a three-buffer writev) and a `process.nextTick` per
 * write to uncork. The socket is corked until the end of the current task, so
 * frames due together (a replay) still leave in one write. `res.end()`
 * writes the last chunk as usual.
 *
 * A replay is paced by the socket: past half the byte limit the subscription
 * stops and continues from the log once the socket drains. Live delivery
 * never waits: a client whose backlog passes the limit is disconnected and
 * resumes from its last id.
 */
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";

import type { StreamItem, Subscription, SubscriptionSink } from "~/server/events";
import { chunkOf, itemFrame } from "./frames";
import type { SseHub } from "./sse-hub";

export class SseConnection implements SubscriptionSink {
  /** Set once the subscription is open. */
  subscription: Subscription | null = null;
  /** The procedure this stream serves (errors that end it name it). */
  path = "";
  /** When the socket stopped taking writes (0: it takes them). */
  stalledSince = 0;
  private closed = false;
  /** Set after the first frame: later frames are written to it directly. */
  private socket: Socket | null = null;
  private chunked = false;
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket?.uncork();
  };

  constructor(
    readonly res: ServerResponse,
    private readonly hub: SseHub,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  write(item: StreamItem): boolean {
    this.send(itemFrame(item));
    return this.subscription?.isLive === true || this.backlogBytes < this.hub.maxBacklogBytes / 2;
  }

  /** Writes raw frame bytes; drops a live client past the backlog limit. */
  send(frame: Buffer): void {
    if (this.closed) return;
    if (!this.writeFrame(frame) && this.stalledSince === 0) this.stalledSince = Date.now();
    if (this.subscription?.isLive && this.backlogBytes > this.hub.maxBacklogBytes) {
      this.hub.disconnect(this, "slow_consumer");
    }
  }

  private writeFrame(frame: Buffer): boolean {
    const socket = this.socket;
    if (!socket) {
      const accepted = this.res.write(frame);
      // HTTP/1.0 clients get an unframed body that ends with the connection.
      if (this.res.socket) [this.socket, this.chunked] = [this.res.socket, this.res.chunkedEncoding];
      return accepted;
    }
    // The client has gone (its end arrived, the response's close has not yet): a write would
    // only build an ERR_STREAM_WRITE_AFTER_END, stack trace and all, per frame.
    if (!socket.writable) return true;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      queueMicrotask(this.uncork);
    }
    return socket.write(this.chunked ? chunkOf(frame) : frame);
  }

  /** Bytes written and not yet taken by the socket. */
  get backlogBytes(): number {
    return this.res.writableLength;
  }

  /** Binds the open subscription; one that opened after the client left is closed at once. */
  attach(subscription: Subscription): void {
    this.subscription = subscription;
    if (this.closed) subscription.close("client_closed");
    else {
      this.hub.attached(this, subscription.connectionId);
      this.drained();
    }
  }

  /** The socket took its backlog: a replay that paused continues. */
  drained(): void {
    this.stalledSince = 0;
    this.subscription?.resume();
  }

  /** The subscription ended: an error is written as tRPC's `serialized-error`, then the response ends. */
  end(error?: unknown): void {
    if (this.closed) return;
    if (error !== undefined) this.send(this.hub.formatError(error, this));
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
