/**
 * Every open SSE connection of this process, and the work that is per
 * process rather than per connection: one heartbeat timer, the
 * slow-consumer and dead-socket checks, and the drain on shutdown.
 */
import type { ServerResponse } from "node:http";

import type { EventLayerLogger } from "~/server/events";
import { pingFrame, retryFrame } from "./frames";
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
   * Stops taking streams and ends every open one with a reconnect hint spread
   * over `spreadMs`, so clients resume (from their last id) elsewhere or after
   * the restart without all arriving at once.
   */
  drain(spreadMs: number): number {
    this.accepting = false;
    clearInterval(this.timer);
    const open = [...this.connections];
    for (const connection of open) {
      connection.finish(retryFrame(500 + Math.random() * spreadMs));
      connection.subscription?.close("server_closing");
    }
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
