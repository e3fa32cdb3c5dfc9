/**
 * The replay log behind resume-from-Last-Event-ID, and the stream's source
 * of order.
 *
 * Contract, for every implementation (tests/conformance/replay-log.suite.ts):
 * - `append` stamps the draft with the stream's next id and records it; ids
 *   are strictly increasing in append order, and the envelope is readable by
 *   `readAfter` once `append` resolved. The bus publishes only after `append`
 *   resolved, so an event a subscriber sees live is always replayable.
 * - `readAfter(cursor)` returns, in id order, every retained event after the
 *   cursor that passes the filter, or a gap when events after the cursor may
 *   have been evicted ("retention_exceeded") or the cursor predates this
 *   stream ("unknown_cursor", e.g. issued before a restart). A gap is never
 *   silent: the subscriber is told and refetches its state.
 * - A malformed cursor, or one ahead of `head()`, throws InvalidEventIdError
 *   (`assertCursorWithin`).
 * - Retention is by count and by age; eviction may happen at any call.
 * - Every method may return a promise; callers always await.
 */
import type { EventEnvelope } from "./envelope";
import type { EventId } from "./event-id";

export type EventDraft = Omit<EventEnvelope, "id">;

export type GapReason = "retention_exceeded" | "unknown_cursor";

export type ReplayResult =
  | { kind: "events"; events: EventEnvelope[]; head: EventId }
  | { kind: "gap"; reason: GapReason; oldestAvailableId: EventId | null; head: EventId };

type MaybePromise<T> = T | Promise<T>;

export interface ReplayLogRetention {
  maxEvents: number;
  maxAgeMs: number;
}

export interface ReplayLog {
  append(draft: EventDraft): MaybePromise<EventEnvelope>;
  readAfter(afterId: EventId, filter?: (envelope: EventEnvelope) => boolean): MaybePromise<ReplayResult>;
  /** The newest id in the stream, or its origin when nothing was appended. */
  head(): MaybePromise<EventId>;
  size(): MaybePromise<number>;
}
