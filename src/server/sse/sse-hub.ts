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
  formatError: (error: unknown) => Buffer;
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
}

export class SseHub {
  private readonly connections = new Set<SseConnection>();
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

  formatError(error: unknown): Buffer {
    return this.options.formatError(error);
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

  remove(connection: SseConnection): void {
    this.connections.delete(connection);
  }

  disconnect(connection: SseConnection, reason: "slow_consumer" | "stalled"): void {
    if (connection.isClosed) return;
    if (reason === "slow_consumer") this.slowConsumerDisconnects++;
    else this.stalledDisconnects++;
    this.options.logger.warn(
      {
        event: `connection.${reason}`,
        connectionId: connection.subscription?.connectionId,
        backlogBytes: connection.backlogBytes,
      },
      reason === "slow_consumer"
        ? "client fell too far behind; disconnected (it resumes from its last id)"
        : "socket took nothing; closed",
    );
    connection.dropped(reason);
    connection.res.destroy();
  }

  private heartbeat(): void {
    const now = Date.now();
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
    const stepMs = Math.min(1_000 / reconnectsPerSecond, maxSpreadMs / Math.max(1, open.length));
    open.forEach((connection, i) => {
      connection.finish(reconnectFrame(FIRST_RECONNECT_MS + i * stepMs));
      connection.subscription?.close("server_closing");
    });
    return open.length;
  }

  stats(): SseHubStats {
    return {
      open: this.connections.size,
      slowConsumerDisconnects: this.slowConsumerDisconnects,
      stalledDisconnects: this.stalledDisconnects,
    };
  }
}
