/**
 * Every instance hears every event by tailing the replay log's Redis stream
 * with a blocking XREAD on a connection of its own, from the last id it saw:
 * Redis hands entries over in id order, so handlers never see a lower id
 * after a higher one, whichever instance emitted. An envelope the log
 * appended is in the stream already, so `publish` adds nothing for it.
 *
 * When the connection drops, the tail waits and reads on from its last id
 * once Redis is back: nothing retained is skipped or repeated. A stream of
 * a new epoch (Redis flushed or replaced), or whose newest id went below the
 * last one seen, is read from its start: its events carry the new epoch, and
 * a subscriber whose cursor is of the old one gets a gap before them.
 *
 * Signals (events that are state, not history) go through a second, capped
 * stream that the same blocking read tails: never part of the log, so they
 * neither take stream ids nor count against any audience's history.
 */
import { UNREPLAYED_ID, type EventEnvelope } from "./envelope";
import { bareEventId, compareEventIds, epochOf } from "./event-id";
import type { EventLayerLogger } from "./logger";
import { silentLogger } from "./logger";
import { fieldOf, type RedisClient, type StreamEntry } from "./redis-client";
import { appendedEnvelopes, envelopeOf } from "./replay-log-redis";
import type { EventTransport } from "./transport";

export interface RedisTransportOptions {
  prefix?: string;
  logger?: EventLayerLogger;
  /** How long one XREAD blocks; the loop notices `close` within it. */
  blockMs?: number;
  /** Pause after a failed read before the next try. */
  retryMs?: number;
  /** Signals kept in their stream (approximately): enough for instances a few reads behind. */
  maxSignals?: number;
}

export class RedisTransport implements EventTransport {
  private readonly handlers = new Set<(envelope: EventEnvelope) => void>();
  private readonly streamKey: string;
  private readonly logger: EventLayerLogger;
  private readonly originKey: string;
  private readonly signalsKey: string;
  private lastId: string | null = null;
  private lastSignalId = "0-0";
  /** The epoch of the log the tail reads ("" while it has not seen one). */
  private epoch = "";
  private epochCheckedAt = 0;
  private closed = false;
  private readonly loop: Promise<void>;
  private started!: () => void;
  /** Resolves once the tail knows where it starts: events published after it are heard. */
  readonly ready: Promise<void>;

  /**
   * `client` publishes; `tail` is a connection of its own for the blocking
   * reads (it should queue commands while disconnected, so the tail waits
   * for Redis instead of spinning).
   */
  constructor(
    private readonly client: RedisClient,
    private readonly tail: RedisClient,
    private readonly options: RedisTransportOptions = {},
  ) {
    this.streamKey = `${options.prefix ?? "{t3-live-events}:"}stream`;
    this.originKey = `${options.prefix ?? "{t3-live-events}:"}origin`;
    this.signalsKey = `${options.prefix ?? "{t3-live-events}:"}signals`;
    this.logger = options.logger ?? silentLogger;
    this.ready = new Promise((resolve) => (this.started = resolve));
    this.loop = this.run();
  }

  async publish(envelope: EventEnvelope): Promise<void> {
    if (appendedEnvelopes.has(envelope)) return;
    const { id, ...draft } = envelope;
    await this.client.call("XADD", this.streamKey, bareEventId(id), "e", JSON.stringify(draft), "p", epochOf(id));
  }

  async signal(envelope: EventEnvelope): Promise<void> {
    const { name, version, data, emittedAt, target } = envelope;
    const draft = { name, version, data, emittedAt, target };
    const cap = String(this.options.maxSignals ?? 10_000);
    await this.client.call("XADD", this.signalsKey, "MAXLEN", "~", cap, "*", "e", JSON.stringify(draft));
  }

  onEnvelope(handler: (envelope: EventEnvelope) => void): () => void {
    const registration = (envelope: EventEnvelope) => handler(envelope);
    this.handlers.add(registration);
    return () => this.handlers.delete(registration);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    // Ends a blocking read at once.
    this.tail.disconnect();
    await this.loop;
  }

  /** The log's epoch now ("" for a log without one, or none yet). */
  private async currentEpoch(): Promise<string> {
    const origin = (await this.tail.call("GET", this.originKey)) as string | null;
    return origin ? epochOf(origin) : "";
  }

  /** A stream's newest id ("0-0" when empty). */
  private async newestId(key = this.streamKey): Promise<string> {
    const last = (await this.tail.call("XREVRANGE", key, "+", "-", "COUNT", 1)) as StreamEntry[];
    return last[0]?.[0] ?? "0-0";
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.lastId === null) {
          this.epoch = await this.currentEpoch();
          this.epochCheckedAt = Date.now();
          this.lastId = await this.newestId();
          this.lastSignalId = await this.newestId(this.signalsKey);
          this.started();
        } else if (failures > 0 || Date.now() - this.epochCheckedAt >= (this.options.blockMs ?? 5_000)) {
          // After a failure, and every block interval: the connection may have been re-established
          // under us (the client resends the blocking read) to a Redis that was flushed or replaced,
          // whose ids may all be below our last one.
          this.epochCheckedAt = Date.now();
          const [epoch, newest] = [await this.currentEpoch(), await this.newestId()];
          if ((this.epoch !== "" && epoch !== this.epoch) || compareEventIds(newest, this.lastId) < 0) {
            this.logger.warn(
              { event: "transport.stream_reset", lastId: this.lastId, newest, epoch, previousEpoch: this.epoch },
              "the event stream is a new one; reading it from the start",
            );
            this.lastId = "0-0";
            this.lastSignalId = await this.newestId(this.signalsKey);
          }
          if (epoch !== "") this.epoch = epoch;
        }
        if (failures > 0) {
          this.logger.info({ event: "transport.reconnected", failures }, "event stream tail resumed");
          failures = 0;
        }
        const reply = (await this.tail.call(
          "XREAD",
          "COUNT",
          1000,
          "BLOCK",
          this.options.blockMs ?? 5_000,
          "STREAMS",
          this.streamKey,
          this.signalsKey,
          this.lastId,
          this.lastSignalId,
        )) as unknown[] | null;
        const streams = entriesByStream(reply);
        for (const entry of streams.get(this.streamKey) ?? []) {
          this.lastId = entry[0];
          const epoch = fieldOf(entry, "p");
          if (epoch) this.epoch = epoch;
          const envelope = envelopeOf(entry);
          for (const handler of this.handlers) handler(envelope);
        }
        for (const entry of streams.get(this.signalsKey) ?? []) {
          this.lastSignalId = entry[0];
          const draft = JSON.parse(fieldOf(entry, "e") ?? "null") as Omit<EventEnvelope, "id">;
          const envelope: EventEnvelope = Object.freeze({ ...draft, id: UNREPLAYED_ID });
          for (const handler of this.handlers) handler(envelope);
        }
      } catch (error) {
        if (this.closed) break;
        if (failures++ === 0) {
          this.logger.error({ event: "transport.failed", err: error }, "event stream tail failed; retrying");
        }
        await new Promise((resolve) => setTimeout(resolve, this.options.retryMs ?? 250));
      }
    }
  }
}

/** XREAD's entries by stream: `[[key, entries], …]` in RESP2, `[key, entries, …]` (a map) in RESP3. */
function entriesByStream(reply: unknown[] | null): Map<string, StreamEntry[]> {
  const streams = new Map<string, StreamEntry[]>();
  if (!reply) return streams;
  if (Array.isArray(reply[0])) {
    for (const pair of reply as [string, StreamEntry[]][]) streams.set(String(pair[0]), pair[1]);
  } else {
    for (let i = 0; i + 1 < reply.length; i += 2) streams.set(String(reply[i]), reply[i + 1] as StreamEntry[]);
  }
  return streams;
}
