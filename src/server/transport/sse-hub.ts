/**
 * Every open SSE connection of this process, and the work that is per
 * process rather than per connection: one heartbeat timer, the
 * slow-consumer and dead-socket checks, and the drain on shutdown.
 */
import type { ServerResponse } from "node:http";

import type { EventLayerLogger } from "~/server/events";
import { pingFrame, reconnectFrame } from "./frames";
import { SseConnection } from "./sse-connection";

export interface SseHubOptions {
  pingIntervalMs: number;
  /** Bytes a connection may have queued before it is disconnected (it resumes from its last id). */
  maxBacklogBytes: number;
  /** A socket that takes nothing for this long is closed. */
  stallTimeoutMs: number;
  /** Turns an error that ended a subscription into its `serialized-error` frame. */
  formatError: (error: unknown, connection: SseConnection) => Buffer;
  logger: EventLayerLogger;
}

/** How a drained fleet of clients is paced back (see SseHub.drain). */
export interface DrainOptions {
  reconnectsPerSecond: number;
  maxSpreadMs: number;
}

/** The earliest a drained client is told to come back: time for a restart's new process to listen. */
const FIRST_RECONNECT_MS = 500;

export interface SseHubStats {
  open: number;
  slowConsumerDisconnects: number;
  stalledDisconnects: number;
  guarded: number;
}

/** A stream another writer serves (tRPC's stock handler, when allowed), held to the same bounds. */
interface GuardedStream {
  res: ServerResponse;
  stalledSince: number;
}

export class SseHub {
  private readonly connections = new Set<SseConnection>();
  /** Open connections by their subscription's id, for what the console asks of one. */
  private readonly bySubscription = new Map<string, SseConnection>();
  private readonly guarded = new Set<GuardedStream>();
  private readonly timer: NodeJS.Timeout;
  private accepting = true;
  private slowConsumerDisconnects = 0;
  private stalledDisconnects = 0;

  constructor(private readonly options: SseHubOptions) {
    this.timer = setInterval(() => this.heartbeat(), options.pingIntervalMs);
    this.timer.unref();
  }

  get maxBacklogBytes(): number {
    return this.options.maxBacklogBytes;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  formatError(error: unknown, connection: SseConnection): Buffer {
    return this.options.formatError(error, connection);
  }

  /** Takes an SSE response whose headers were sent. */
  open(res: ServerResponse): SseConnection {
    const connection = new SseConnection(res, this);
    this.connections.add(connection);
    // Frames after the first are written to the socket itself, so its drain is the one that counts.
    const socket = res.socket;
    const onDrain = () => connection.drained();
    socket?.on("drain", onDrain);
    res.on("close", () => {
      // A kept-alive socket may serve other requests after this response.
      socket?.off("drain", onDrain);
      connection.dropped("client_closed");
    });
    return connection;
  }

  /**
   * Holds a stream that another writer serves (tRPC's stock handler, where
   * it is allowed) to this hub's bounds: it is closed when more than
   * `maxBacklogBytes` wait in its socket or when the socket takes nothing for
   * `stallTimeoutMs`, and ended with the others on drain, paced the same way
   * (closed at its slot: its writer owns the bytes, so no hint is written).
   */
  guard(res: ServerResponse): void {
    const stream: GuardedStream = { res, stalledSince: 0 };
    this.guarded.add(stream);
    res.on("close", () => this.guarded.delete(stream));
  }

  private checkGuarded(now: number): void {
    for (const stream of this.guarded) {
      const socket = stream.res.socket;
      if (!socket) continue;
      const waiting = stream.res.writableLength + socket.writableLength;
      if (waiting > this.options.maxBacklogBytes) {
        this.closeFor("slow_consumer", { backlogBytes: waiting });
        stream.res.destroy();
        continue;
      }
      if (!socket.writableNeedDrain) stream.stalledSince = 0;
      else if (stream.stalledSince === 0) stream.stalledSince = now;
      else if (now - stream.stalledSince > this.options.stallTimeoutMs) {
        this.closeFor("stalled", {});
        stream.res.destroy();
      }
    }
  }

  remove(connection: SseConnection): void {
    this.connections.delete(connection);
    const id = connection.subscription?.connectionId;
    if (id !== undefined && this.bySubscription.get(id) === connection) this.bySubscription.delete(id);
  }

  /** A subscription's stream was attached to `connection`. */
  attached(connection: SseConnection, connectionId: string): void {
    if (!connection.isClosed) this.bySubscription.set(connectionId, connection);
  }

  /**
   * Bytes written to a subscription's socket and not yet taken by it: how far
   * its client is behind what the server sent (null: not a stream of this hub).
   */
  queuedBytes(connectionId: string): number | null {
    return this.bySubscription.get(connectionId)?.backlogBytes ?? null;
  }

  disconnect(connection: SseConnection, reason: "slow_consumer" | "stalled"): void {
    if (connection.isClosed) return;
    this.closeFor(reason, {
      connectionId: connection.subscription?.connectionId,
      backlogBytes: connection.backlogBytes,
    });
    // Counted for its organisations too, where it happens (the operator console reads these).
    for (const tenant of connection.subscription?.connection.tenants ?? []) {
      if (reason === "slow_consumer") tenant.slowConsumerDisconnects++;
      else tenant.stalledDisconnects++;
    }
    connection.dropped(reason);
    connection.res.destroy();
  }

  /** Counts and logs a stream closed for falling behind or stalling (its own or a guarded one). */
  private closeFor(reason: "slow_consumer" | "stalled", fields: Record<string, unknown>): void {
    if (reason === "slow_consumer") this.slowConsumerDisconnects++;
    else this.stalledDisconnects++;
    this.options.logger.warn(
      { event: `connection.${reason}`, ...fields },
      reason === "slow_consumer"
        ? "client fell too far behind; disconnected (it resumes from its last id)"
        : "socket took nothing; closed",
    );
  }

  private heartbeat(): void {
    const now = Date.now();
    if (this.guarded.size > 0) this.checkGuarded(now);
    for (const connection of this.connections) {
      if (connection.stalledSince !== 0 && now - connection.stalledSince > this.options.stallTimeoutMs) {
        this.disconnect(connection, "stalled");
      } else {
        connection.send(pingFrame);
      }
    }
  }

  /**
   * Stops taking streams and ends every open one with a reconnect hint, so
   * that its clients come back (resuming from their last id, here after a
   * restart or on another instance) at `reconnectsPerSecond`, not all at
   * once: the first after half a second, each next one 1/rate later, all
   * within `maxSpreadMs` more. A process new to its clients pays Auth.js's
   * decryption on each one's first connect, a few hundred a second per core.
   */
  drain({ reconnectsPerSecond, maxSpreadMs }: DrainOptions): number {
    this.accepting = false;
    clearInterval(this.timer);
    const open = [...this.connections];
    const guarded = [...this.guarded];
    const count = open.length + guarded.length;
    const stepMs = Math.min(1_000 / reconnectsPerSecond, maxSpreadMs / Math.max(1, count));
    open.forEach((connection, i) => {
      connection.finish(reconnectFrame(FIRST_RECONNECT_MS + i * stepMs));
      connection.subscription?.close("server_closing");
    });
    guarded.forEach((stream, i) => {
      const slot = (open.length + i) * stepMs;
      if (slot === 0) stream.res.destroy();
      else setTimeout(() => stream.res.destroy(), slot).unref();
    });
    return count;
  }

  stats(): SseHubStats {
    return {
      open: this.connections.size,
      /** Streams served by tRPC's stock handler (allowed for comparisons), held to the same bounds. */
      guarded: this.guarded.size,
      slowConsumerDisconnects: this.slowConsumerDisconnects,
      stalledDisconnects: this.stalledDisconnects,
    };
  }
}
