/**
 * Event ids: `<unix ms>-<sequence>`, the shape of Redis stream ids, so that a
 * Redis-backed log can issue them natively. They are totally ordered, so a
 * client's Last-Event-ID is a resumable cursor; a restarted server issues ids
 * greater than any it issued before (the clock moves on), so old cursors read
 * as "older than the log" and produce a gap, never a silent loss.
 *
 * This module has no server dependencies: the browser compares ids with it too.
 */
import { InvalidEventIdError } from "./errors";

export type EventId = string;

const EVENT_ID = /^(\d{1,16})-(\d{1,16})$/;

export interface ParsedEventId {
  ms: number;
  seq: number;
}

/** Throws InvalidEventIdError for anything that is not an id this layer issues. */
export function parseEventId(id: string): ParsedEventId {
  const match = EVENT_ID.exec(id);
  if (!match) {
    throw new InvalidEventIdError(
      `lastEventId ${JSON.stringify(id.slice(0, 80))} is malformed; expected "<ms>-<sequence>" as sent in the stream`,
    );
  }
  const ms = Number(match[1]);
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) {
    throw new InvalidEventIdError(`lastEventId ${JSON.stringify(id)} is out of range`);
  }
  return { ms, seq };
}

/**
 * Orders two ids. Runs once per delivery, so it does not re-validate: pass
 * ids this layer issued, or ones `parseEventId` accepted.
 */
export function compareEventIds(a: EventId, b: EventId): number {
  if (a === b) return 0;
  const da = a.indexOf("-");
  const db = b.indexOf("-");
  return Number(a.slice(0, da)) - Number(b.slice(0, db)) || Number(a.slice(da + 1)) - Number(b.slice(db + 1));
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
  if (compareEventIds(cursor, head) > 0) {
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

  constructor(private readonly now: () => number = Date.now) {
    this.last = { ms: now(), seq: 0 };
    this.origin = formatEventId(this.last);
  }

  next(): EventId {
    const ms = this.now();
    this.last = ms > this.last.ms ? { ms, seq: 0 } : { ms: this.last.ms, seq: this.last.seq + 1 };
    return formatEventId(this.last);
  }
}
