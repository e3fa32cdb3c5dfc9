/**
 * Event ids: `<unix ms>-<sequence>`, the shape of Redis stream ids, so that a
 * Redis-backed log can issue them natively, optionally followed by
 * `.<epoch>`, the log that issued them (the Redis log has one per lifetime of
 * its data: a flushed or replaced Redis starts a new one). Within an epoch
 * ids are totally ordered, so a client's Last-Event-ID is a resumable cursor;
 * a cursor from another epoch is answered with a gap (`unknown_cursor`)
 * whatever its number, so neither a replaced store whose clock is behind nor
 * instances overlapping in a deploy can make a log skip events silently. An
 * in-process log has no epoch: a restarted one issues ids greater than any it
 * issued before (the clock moves on), so old cursors read as "older than the
 * log" and produce a gap too.
 *
 * This module has no server dependencies: the browser compares ids with it too.
 */
import { InvalidEventIdError } from "./errors";

export type EventId = string;

const EVENT_ID = /^(\d{1,16})-(\d{1,16})(?:\.([0-9a-z]{1,16}))?$/;

export interface ParsedEventId {
  ms: number;
  seq: number;
  /** The issuing log's epoch; "" for a log without one. */
  epoch?: string;
}

/** Throws InvalidEventIdError for anything that is not an id this layer issues. */
export function parseEventId(id: string): ParsedEventId {
  const match = EVENT_ID.exec(id);
  if (!match) {
    throw new InvalidEventIdError(
      `lastEventId ${JSON.stringify(id.slice(0, 80))} is malformed; expected "<ms>-<sequence>[.<epoch>]" as sent in the stream`,
    );
  }
  const ms = Number(match[1]);
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) {
    throw new InvalidEventIdError(`lastEventId ${JSON.stringify(id)} is out of range`);
  }
  return { ms, seq, epoch: match[3] ?? "" };
}

const seqOf = (id: EventId, dash: number): number => {
  const dot = id.indexOf(".", dash);
  return Number(dot < 0 ? id.slice(dash + 1) : id.slice(dash + 1, dot));
};

/**
 * Orders two ids of one epoch (it ignores epochs: check `sameEpoch` first
 * where they can differ). Runs once per delivery, so it does not
 * re-validate: pass ids this layer issued, or ones `parseEventId` accepted.
 */
export function compareEventIds(a: EventId, b: EventId): number {
  if (a === b) return 0;
  const da = a.indexOf("-");
  const db = b.indexOf("-");
  return Number(a.slice(0, da)) - Number(b.slice(0, db)) || seqOf(a, da) - seqOf(b, db);
}

/**
 * Where the items after `afterId` begin in `sorted` (ascending by id, looked
 * at from `start`): a binary search, for replays from a history in memory.
 */
export function firstAfter<T>(sorted: readonly T[], afterId: EventId, idOf: (item: T) => EventId, start = 0): number {
  let low = start;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareEventIds(idOf(sorted[mid]!), afterId) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The epoch part of an id ("" when it has none). */
export function epochOf(id: EventId): string {
  const dot = id.lastIndexOf(".");
  return dot < 0 ? "" : id.slice(dot + 1);
}

/** The id without its epoch (what the Redis stream itself calls it). */
export function bareEventId(id: EventId): EventId {
  const dot = id.lastIndexOf(".");
  return dot < 0 ? id : id.slice(0, dot);
}

/** Whether two ids were issued by the same log (and so can be ordered). Once per delivery: allocates nothing. */
export function sameEpoch(a: EventId, b: EventId): boolean {
  const i = a.lastIndexOf(".");
  const j = b.lastIndexOf(".");
  if (i < 0 || j < 0) return i === j;
  const length = a.length - i;
  if (length !== b.length - j) return false;
  for (let k = 1; k < length; k++) if (a.charCodeAt(i + k) !== b.charCodeAt(j + k)) return false;
  return true;
}

/**
 * Whether `id` is new to a client whose cursor is `cursor`: later in the same
 * epoch, or from another epoch (a new log, announced by a gap).
 */
export function isAfter(id: EventId, cursor: EventId | null): boolean {
  return cursor === null || !sameEpoch(id, cursor) || compareEventIds(id, cursor) > 0;
}

export function formatEventId(id: ParsedEventId): EventId {
  return `${id.ms}-${id.seq}`;
}

/**
 * The one cursor rule, for every ReplayLog implementation: a cursor must be
 * well formed and not ahead of the stream's newest id (it was issued here).
 * Older cursors are valid; the log answers them with events or a gap.
 */
export function assertCursorWithin(cursor: EventId, head: EventId): void {
  parseEventId(cursor);
  // Another epoch's cursor is not ahead or behind: the log answers it with a gap.
  if (sameEpoch(cursor, head) && compareEventIds(cursor, head) > 0) {
    throw new InvalidEventIdError(
      "lastEventId is ahead of this stream; it was not issued here (resume from an id the stream sent)",
    );
  }
}

/** Monotonic id source; survives a clock that steps backwards. */
export class EventIdGenerator {
  /** Below every id this generator issues: the start of this stream. */
  readonly origin: EventId;
  private last: ParsedEventId;

  /** `after`: an id already issued (a stream that continues, e.g. from storage); the next ones are above it. */
  constructor(
    private readonly now: () => number = Date.now,
    after?: EventId,
  ) {
    const { ms, seq } = after === undefined ? { ms: now(), seq: 0 } : parseEventId(after);
    this.last = { ms, seq };
    this.origin = formatEventId(this.last);
  }

  next(): EventId {
    const ms = this.now();
    this.last = ms > this.last.ms ? { ms, seq: 0 } : { ms: this.last.ms, seq: this.last.seq + 1 };
    return formatEventId(this.last);
  }
}
