/**
 * The replay log in this process's memory: a ring ordered by id, evicted by
 * count and age. Ids come from a monotonic generator whose origin is this
 * process's start, so cursors from before a restart read as unknown.
 */
import type { EventEnvelope } from "./envelope";
import { EventIdGenerator, assertCursorWithin, compareEventIds, type EventId } from "./event-id";
import type { EventDraft, ReplayLog, ReplayLogRetention, ReplayResult } from "./replay-log";

export interface MemoryReplayLogOptions extends ReplayLogRetention {
  /** Issues the ids; its origin is below every id of this stream. */
  ids?: EventIdGenerator;
  now?: () => number;
}

export class MemoryReplayLog implements ReplayLog {
  private entries: EventEnvelope[] = [];
  private start = 0;
  private emittedAtMs: number[] = [];
  /** Newest evicted id (or the origin): cursors below it may have missed events. */
  private floor: EventId;
  private newest: EventId;
  private readonly origin: EventId;
  private readonly ids: EventIdGenerator;
  private readonly now: () => number;

  constructor(private readonly options: MemoryReplayLogOptions) {
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
    assertCursorWithin(afterId, this.newest);
    this.evict();
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
