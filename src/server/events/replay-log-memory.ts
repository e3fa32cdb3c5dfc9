/**
 * The replay log in this process's memory: one ring per audience, all
 * stamped from one id sequence, plus one queue in append order for the
 * evictions that are oldest-first across audiences (age, total). Ids come
 * from a monotonic generator whose origin is this process's start, so
 * cursors from before a restart read as unknown.
 */
import type { EventEnvelope } from "./envelope";
import { EventIdGenerator, assertCursorWithin, compareEventIds, firstAfter, sameEpoch, type EventId } from "./event-id";
import type { Appended, EventDraft, ReplayLog, ReplayLogRetention, ReplayReader, ReplayResult } from "./replay-log";
import { audienceOf, type Audience } from "./targets";

export interface MemoryReplayLogOptions extends ReplayLogRetention {
  /** Issues the ids; its origin is below every id of this stream. */
  ids?: EventIdGenerator;
  now?: () => number;
}

interface Entry {
  readonly envelope: EventEnvelope;
  readonly at: number;
  readonly lane: Lane;
  evicted: boolean;
}

/** One audience's history, oldest first. */
class Lane {
  entries: Entry[] = [];
  start = 0;
  /** Newest id this audience lost to its own count limit: its cursors below it may have missed events. */
  floor: EventId;

  constructor(
    readonly audience: Audience,
    origin: EventId,
  ) {
    this.floor = origin;
  }

  get size(): number {
    return this.entries.length - this.start;
  }

  shift(): Entry {
    const entry = this.entries[this.start++]!;
    // Compact lazily so eviction stays O(1) amortised.
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
    return entry;
  }

  /** Entries after `afterId`, oldest first. */
  *after(afterId: EventId): Generator<Entry> {
    const from = firstAfter(this.entries, afterId, (entry) => entry.envelope.id, this.start);
    for (let i = from; i < this.entries.length; i++) yield this.entries[i]!;
  }

  oldest(): EventId | null {
    return this.start < this.entries.length ? this.entries[this.start]!.envelope.id : null;
  }
}

export class MemoryReplayLog implements ReplayLog {
  private readonly lanes = new Map<Audience, Lane>();
  /** Every entry in append order; count-evicted ones stay flagged until they reach the front. */
  private queue: Entry[] = [];
  private queueStart = 0;
  private total = 0;
  /**
   * Newest id evicted oldest-first across audiences (age or total, or the
   * origin): every cursor below it may have missed events, whatever its
   * audiences. Also stands in for the floors of lanes dropped once empty.
   */
  private floor: EventId;
  private newest: EventId;
  private readonly origin: EventId;
  private readonly ids: EventIdGenerator;
  private readonly now: () => number;
  private readonly maxTotalEvents: number;

  constructor(private readonly options: MemoryReplayLogOptions) {
    this.now = options.now ?? Date.now;
    this.ids = options.ids ?? new EventIdGenerator(this.now);
    this.origin = this.ids.origin;
    this.floor = this.origin;
    this.newest = this.origin;
    this.maxTotalEvents = options.maxTotalEvents ?? options.maxEvents * 100;
  }

  /** Keys of `appendOnce`, oldest first; bounded like the events (a process's log dies with it anyway). */
  private readonly keyed = new Map<string, EventEnvelope>();

  appendOnce(draft: EventDraft, key: string): Appended {
    const earlier = this.keyed.get(key);
    if (earlier) return { envelope: earlier, repeated: true };
    const envelope = this.append(draft);
    this.keyed.set(key, envelope);
    if (this.keyed.size > this.maxTotalEvents) this.keyed.delete(this.keyed.keys().next().value!);
    return { envelope, repeated: false };
  }

  append(draft: EventDraft): EventEnvelope {
    const envelope: EventEnvelope = Object.freeze({ ...draft, id: this.ids.next() });
    const audience = audienceOf(envelope.target);
    let lane = this.lanes.get(audience);
    if (!lane) this.lanes.set(audience, (lane = new Lane(audience, this.origin)));
    const entry: Entry = { envelope, at: this.now(), lane, evicted: false };
    lane.entries.push(entry);
    this.queue.push(entry);
    this.total++;
    this.newest = envelope.id;
    while (lane.size > this.options.maxEvents) {
      const lost = lane.shift();
      lost.evicted = true;
      lane.floor = lost.envelope.id;
      this.total--;
    }
    this.evict();
    return envelope;
  }

  head(): EventId {
    return this.newest;
  }

  size(): number {
    return this.total;
  }

  retained(audience: Audience): number {
    return this.lanes.get(audience)?.size ?? 0;
  }

  /** Audiences holding events (for leak checks and stats). */
  audienceCount(): number {
    return this.lanes.size;
  }

  readAfter(afterId: EventId, reader?: ReplayReader): ReplayResult {
    assertCursorWithin(afterId, this.newest);
    this.evict();
    const lanes = reader
      ? reader.audiences.flatMap((audience) => this.lanes.get(audience) ?? [])
      : [...this.lanes.values()];
    let oldest: EventId | null = null;
    for (const lane of lanes) {
      const id = lane.oldest();
      if (id !== null && (oldest === null || compareEventIds(id, oldest) < 0)) oldest = id;
    }
    if (!sameEpoch(afterId, this.origin) || compareEventIds(afterId, this.origin) < 0) {
      return { kind: "gap", reason: "unknown_cursor", oldestAvailableId: oldest, head: this.newest };
    }
    if (compareEventIds(afterId, this.floor) < 0 || lanes.some((lane) => compareEventIds(afterId, lane.floor) < 0)) {
      return { kind: "gap", reason: "retention_exceeded", oldestAvailableId: oldest, head: this.newest };
    }
    const filter = reader?.filter;
    const events: EventEnvelope[] = [];
    for (const lane of lanes) {
      for (const entry of lane.after(afterId)) {
        if (!filter || filter(entry.envelope)) events.push(entry.envelope);
      }
    }
    if (lanes.length > 1) events.sort((a, b) => compareEventIds(a.id, b.id));
    return { kind: "events", events, head: this.newest };
  }

  /** Oldest-first across audiences: by age, then down to the total. */
  private evict(): void {
    const cutoff = this.now() - this.options.maxAgeMs;
    while (this.queueStart < this.queue.length) {
      const entry = this.queue[this.queueStart]!;
      if (entry.evicted) {
        this.queueStart++;
        continue;
      }
      if (entry.at >= cutoff && this.total <= this.maxTotalEvents) break;
      // Appends are in id order in both the queue and each lane, so this is its lane's oldest.
      entry.lane.shift();
      entry.evicted = true;
      this.floor = entry.envelope.id;
      this.total--;
      this.queueStart++;
      // Its floor is below the log's floor now, which covers it.
      if (entry.lane.size === 0) this.lanes.delete(entry.lane.audience);
    }
    if (this.queueStart > 1024 && this.queueStart * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueStart);
      this.queueStart = 0;
    }
  }
}
