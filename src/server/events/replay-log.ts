/**
 * The bounded replay log behind resume-from-Last-Event-ID. It is the stream's
 * source of order: `append` stamps the next id. Retention is by count and by
 * age; once an event is evicted, a cursor older than it can no longer be
 * served without loss, and the reader is told so (a gap) instead.
 *
 * The interface allows promises so that a shared log (Redis Streams: XADD
 * stamps the id, XRANGE replays) can implement it; callers always await.
 */
import type { EventEnvelope } from "./envelope";
import { EventIdGenerator, compareEventIds, parseEventId, type EventId } from "./event-id";
import { InvalidEventIdError } from "./errors";

export interface ReplayLogOptions {
  maxEvents: number;
  maxAgeMs: number;
  /** Issues the ids; its origin is below every id of this stream. */
  ids?: EventIdGenerator;
  now?: () => number;
}

export type EventDraft = Omit<EventEnvelope, "id">;

export type ReplayResult =
  | { kind: "events"; events: EventEnvelope[]; head: EventId }
  | {
      kind: "gap";
      reason: "retention_exceeded" | "unknown_cursor";
      oldestAvailableId: EventId | null;
      head: EventId;
    };

type MaybePromise<T> = T | Promise<T>;

export interface ReplayLog {
  /** Stamps the draft with the stream's next id, records it, and returns the envelope. */
  append(draft: EventDraft): MaybePromise<EventEnvelope>;
  /** Events strictly after `afterId` that pass `filter`, or a gap. Throws InvalidEventIdError. */
  readAfter(afterId: EventId, filter?: (envelope: EventEnvelope) => boolean): MaybePromise<ReplayResult>;
  /** The newest id in the stream, or the origin when nothing was emitted. */
  head(): MaybePromise<EventId>;
  size(): MaybePromise<number>;
}

export class InMemoryReplayLog implements ReplayLog {
  private entries: EventEnvelope[] = [];
  private start = 0;
  private emittedAtMs: number[] = [];
  /** Newest evicted id (or the origin): cursors below it may have missed events. */
  private floor: EventId;
  private newest: EventId;
  private readonly origin: EventId;
  private readonly ids: EventIdGenerator;
  private readonly now: () => number;

  constructor(private readonly options: ReplayLogOptions) {
    this.now = options.now ?? Date.now;
    this.ids = options.ids ?? new EventIdGenerator(this.now);
    this.origin = this.ids.origin;
    this.floor = this.origin;
    this.newest = this.origin;
  }

  append(draft: EventDraft): EventEnvelope {
    const envelope: EventEnvelope = Object.freeze({ ...draft, id: this.ids.next() });
    this.entries.push(envelope);
    this.emittedAtMs.push(this.now());
    this.newest = envelope.id;
    this.evict();
    return envelope;
  }

  head(): EventId {
    return this.newest;
  }

  size(): number {
    return this.entries.length - this.start;
  }

  readAfter(afterId: EventId, filter?: (envelope: EventEnvelope) => boolean): ReplayResult {
    parseEventId(afterId);
    this.evict();
    if (compareEventIds(afterId, this.newest) > 0) {
      throw new InvalidEventIdError(
        `lastEventId ${afterId} is ahead of this stream (newest is ${this.newest}); it was not issued here`,
      );
    }
    const oldest = this.start < this.entries.length ? this.entries[this.start]!.id : null;
    if (compareEventIds(afterId, this.floor) < 0) {
      return {
        kind: "gap",
        reason: compareEventIds(afterId, this.origin) < 0 ? "unknown_cursor" : "retention_exceeded",
        oldestAvailableId: oldest,
        head: this.newest,
      };
    }
    const events: EventEnvelope[] = [];
    for (let i = this.firstIndexAfter(afterId); i < this.entries.length; i++) {
      const envelope = this.entries[i]!;
      if (!filter || filter(envelope)) events.push(envelope);
    }
    return { kind: "events", events, head: this.newest };
  }

  private firstIndexAfter(afterId: EventId): number {
    let lo = this.start;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareEventIds(this.entries[mid]!.id, afterId) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private evict(): void {
    const cutoff = this.now() - this.options.maxAgeMs;
    while (
      this.start < this.entries.length &&
      (this.entries.length - this.start > this.options.maxEvents || this.emittedAtMs[this.start]! < cutoff)
    ) {
      this.floor = this.entries[this.start]!.id;
      this.start++;
    }
    // Compact lazily so eviction stays O(1) amortised.
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.emittedAtMs = this.emittedAtMs.slice(this.start);
      this.start = 0;
    }
  }
}
