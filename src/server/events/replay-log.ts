/**
 * The replay log behind resume-from-Last-Event-ID, and the stream's source
 * of order.
 *
 * Contract, for every implementation (tests/conformance/replay-log.suite.ts):
 * - `append` stamps the draft with the stream's next id and records it; ids
 *   are strictly increasing in append order, and the envelope is readable by
 *   `readAfter` once `append` resolved. The bus publishes only after `append`
 *   resolved, so an event a subscriber sees live is always replayable.
 * - History is kept per audience (`audienceOf(target)`: each organisation,
 *   user, session, broadcast): the count limit applies to each audience on
 *   its own, so one audience's volume never evicts another's events. Ids
 *   stay one sequence across audiences, so a client holds one cursor.
 * - `readAfter(cursor, reader)` returns, in id order, every retained event
 *   after the cursor in the reader's audiences that passes its filter, or a
 *   gap when events after the cursor may have been evicted from one of those
 *   audiences ("retention_exceeded") or the cursor predates this stream or
 *   comes from another epoch ("unknown_cursor", e.g. issued before a restart
 *   or by a Redis that was since flushed or replaced). Another audience's
 *   evictions never cause a gap. A gap is never silent: the subscriber is
 *   told and refetches its state. Without a reader, every audience is read.
 * - A malformed cursor, or one ahead of `head()`, throws InvalidEventIdError
 *   (`assertCursorWithin`).
 * - Retention is by count per audience, by age, and by a total count that
 *   bounds memory; eviction may happen at any call. Evictions by age or by
 *   the total are oldest-first across audiences, so they can only gap
 *   cursors older than every event still held. An implementation may let a
 *   count run a batch over its bound and then trim back to it in one step
 *   (the database log does, `trimBatch`): it keeps more, never less, and a
 *   gap is still reported exactly when a reader's events were dropped.
 * - `appendOnce(draft, key)` appends like `append` unless an earlier append
 *   with the same key is still remembered (at least as long as its event is
 *   retained): then it records nothing and returns that earlier envelope,
 *   `repeated`. Whoever publishes at least once (the outbox relay after a
 *   crash between publishing and marking) gets one id per event, so
 *   subscribers receive it exactly once.
 * - `retained(audience)` is how many events that audience holds now (0 for
 *   one it never had): its retention use, against `maxEvents` (a log that
 *   trims in batches may be over by up to one batch).
 * - Every method may return a promise; callers always await.
 */
import type { EventEnvelope } from "./envelope";
import type { EventId } from "./event-id";
import type { Audience } from "./targets";

export type EventDraft = Omit<EventEnvelope, "id">;

export type GapReason = "retention_exceeded" | "unknown_cursor";

export type ReplayResult =
  | { kind: "events"; events: EventEnvelope[]; head: EventId }
  | { kind: "gap"; reason: GapReason; oldestAvailableId: EventId | null; head: EventId };

type MaybePromise<T> = T | Promise<T>;

export interface ReplayLogRetention {
  /** Events kept per audience. */
  maxEvents: number;
  maxAgeMs: number;
  /** Events kept across all audiences (the memory bound); default 100 × maxEvents. */
  maxTotalEvents?: number;
}

/** Whose history a replay reads: the audiences of a subscriber (`audiencesOf`) and what it asked for. */
export interface ReplayReader {
  audiences: readonly Audience[];
  filter?: (envelope: EventEnvelope) => boolean;
}

/** What `appendOnce` did: appended now, or found the key's earlier append. */
export interface Appended {
  envelope: EventEnvelope;
  /** True: an earlier append had this key; nothing was recorded now. */
  repeated: boolean;
}

export interface ReplayLog {
  append(draft: EventDraft): MaybePromise<EventEnvelope>;
  appendOnce(draft: EventDraft, key: string): MaybePromise<Appended>;
  readAfter(afterId: EventId, reader?: ReplayReader): MaybePromise<ReplayResult>;
  /** The newest id in the stream, or its origin when nothing was appended. */
  head(): MaybePromise<EventId>;
  size(): MaybePromise<number>;
  /** Events one audience holds now. */
  retained(audience: Audience): MaybePromise<number>;
}
