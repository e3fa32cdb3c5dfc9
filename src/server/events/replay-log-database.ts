/**
 * The replay log on the app's database: the embedded default's history
 * survives a restart, so a client resumes with the events it missed instead
 * of `system.gap (unknown_cursor)`. The third twin of the ReplayLog contract
 * (replay-log.ts), beside the memory and Redis logs, and held to the same
 * conformance suite; it speaks SQL through `SqlDatabase` (the app adapts
 * Prisma to it), on PostgreSQL or embedded PGlite.
 *
 * One process owns it (PGlite is single-process; several instances use the
 * Redis log), so ids come from this process: `<ms>-<seq>`, above every id
 * already stored. Appends, evictions and reads run one after another, so a
 * replay never sees a half-applied eviction and the head only covers events
 * that are stored.
 */
import type { EventEnvelope } from "./envelope";
import {
  EventIdGenerator,
  assertCursorWithin,
  compareEventIds,
  firstAfter,
  parseEventId,
  sameEpoch,
  type EventId,
} from "./event-id";
import type { Appended, EventDraft, ReplayLog, ReplayLogRetention, ReplayReader, ReplayResult } from "./replay-log";
import type { SqlDatabase, SqlParameter } from "./sql-database";
import { audienceOf, type Audience } from "./targets";

const AGE_CHECK_MS = 5_000;

/** An id as stored: its two parts, read back as text (int8) and number. */
interface IdRow {
  idMs: string;
  idSeq: number;
}

const split = (id: EventId) => {
  const { ms, seq } = parseEventId(id);
  return { idMs: String(ms), idSeq: seq };
};
const join = (row: IdRow): EventId => `${row.idMs}-${row.idSeq}`;
/** A time as the `timestamp` columns hold it: UTC, without a zone. */
const timestamp = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace("T", " ");
/** `$from, $from+1, …` for a list of parameters. */
const placeholders = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => `$${from + i}`).join(", ");

const ID_COLUMNS = `"idMs"::text AS "idMs", "idSeq"`;
const INSERT = `INSERT INTO "EventLogEntry" ("idMs", "idSeq", "audience", "key", "envelope", "createdAt")
  VALUES ($1::bigint, $2::int, $3, $4, $5::jsonb, $6::timestamp)`;

export class DatabaseReplayLog implements ReplayLog {
  private queue: Promise<unknown> = Promise.resolve();
  private loaded: Promise<void> | null = null;
  private origin: EventId = "0-0";
  private newest: EventId = "0-0";
  /** Issues ids above the newest stored one (set once loaded). */
  private ids = new EventIdGenerator();
  private floor: EventId = "0-0";
  private readonly floors = new Map<Audience, EventId>();
  private readonly counts = new Map<Audience, number>();
  private total = 0;
  private ageCheckedAt = 0;
  private readonly maxTotalEvents: number;
  private readonly trimBatch: number;
  /**
   * The newest events this process appended, oldest first, every one of them
   * since `recent[0]`. A resume whose cursor is among them (every client after
   * a deploy or a blip) is answered from memory, with the very envelopes live
   * delivery used, whose frames are already serialised, instead of a query
   * and a parse per event for each of the reconnecting clients.
   */
  private recent: { envelope: EventEnvelope; audience: Audience }[] = [];
  private readonly recentEvents: number;

  constructor(
    private readonly db: SqlDatabase,
    private readonly options: ReplayLogRetention & {
      now?: () => number;
      /** How many recent events replays are answered from (0 = always the database). */
      recentEvents?: number;
      /**
       * How many events an audience (or the whole log) may hold over its bound
       * before it is trimmed back to it, in one statement. Default: a tenth of
       * `maxEvents`. Trimming on every append of a full audience, the steady
       * state of a busy one, cost a DELETE and a floor write on each emit
       * (with the embedded database, more than the insert itself); in batches
       * it costs one per `trimBatch` appends, like Redis's `MAXLEN ~`. Gaps stay
       * exact: a floor moves only when events are actually deleted.
       */
      trimBatch?: number;
    },
  ) {
    this.maxTotalEvents = options.maxTotalEvents ?? options.maxEvents * 100;
    this.recentEvents = options.recentEvents ?? 1_000;
    this.trimBatch = options.trimBatch ?? Math.floor(options.maxEvents / 10);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Runs `task` after every earlier one (appends, evictions, reads), once the log is loaded. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    this.loaded ??= this.load();
    const run = this.queue.then(() => this.loaded).then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  private async load(): Promise<void> {
    const marks = await this.db.query<IdRow & { key: string }>(`SELECT "key", ${ID_COLUMNS} FROM "EventLogMark"`, []);
    let origin = marks.find((m) => m.key === "origin");
    if (!origin) {
      origin = { key: "origin", idMs: String(this.now() - 1), idSeq: 0 };
      await this.db.execute(`INSERT INTO "EventLogMark" ("key", "idMs", "idSeq") VALUES ($1, $2::bigint, $3::int)`, [
        origin.key,
        origin.idMs,
        origin.idSeq,
      ]);
    }
    this.origin = join(origin);
    for (const mark of marks) {
      if (mark.key === "floor") this.floor = join(mark);
      else if (mark.key.startsWith("a:")) this.floors.set(mark.key.slice(2) as Audience, join(mark));
    }
    if (compareEventIds(this.floor, this.origin) < 0) this.floor = this.origin;
    const [newest] = await this.db.query<IdRow>(
      `SELECT ${ID_COLUMNS} FROM "EventLogEntry" ORDER BY "idMs" DESC, "idSeq" DESC LIMIT 1`,
      [],
    );
    this.newest = newest ? join(newest) : this.origin;
    this.ids = new EventIdGenerator(() => this.now(), this.newest);
    await this.recount();
  }

  private async recount(): Promise<void> {
    const groups = await this.db.query<{ audience: Audience; count: number }>(
      `SELECT "audience", count(*)::int AS "count" FROM "EventLogEntry" GROUP BY "audience"`,
      [],
    );
    this.counts.clear();
    this.total = 0;
    for (const group of groups) {
      this.counts.set(group.audience, group.count);
      this.total += group.count;
    }
  }

  append(draft: EventDraft): Promise<EventEnvelope> {
    return this.serial(async () => (await this.record(draft)).envelope);
  }

  appendOnce(draft: EventDraft, key: string): Promise<Appended> {
    return this.serial(() => this.record(draft, key));
  }

  private async record(draft: EventDraft, key?: string): Promise<Appended> {
    if (key !== undefined) {
      const [earlier] = await this.db.query<{ envelope: string }>(
        `SELECT "envelope"::text AS "envelope" FROM "EventLogEntry" WHERE "key" = $1`,
        [key],
      );
      if (earlier) return { envelope: Object.freeze(JSON.parse(earlier.envelope) as EventEnvelope), repeated: true };
    }
    const envelope: EventEnvelope = Object.freeze({ ...draft, id: this.ids.next() });
    const audience = audienceOf(envelope.target);
    await this.insert(envelope, audience, key);
    this.newest = envelope.id;
    this.remember(envelope, audience);
    await this.evictOldest();
    return { envelope, repeated: false };
  }

  private remember(envelope: EventEnvelope, audience: Audience): void {
    if (this.recentEvents === 0) return;
    this.recent.push({ envelope, audience });
    // Trimmed in steps, so an append costs no shift of the whole array.
    if (this.recent.length >= 2 * this.recentEvents) this.recent = this.recent.slice(-this.recentEvents);
  }

  /** The recent events after `afterId` in these audiences, if memory holds all of them. */
  private recentAfter(afterId: EventId, audiences: readonly Audience[]): EventEnvelope[] | null {
    const recent = this.recent;
    if (recent.length === 0 || compareEventIds(afterId, recent[0]!.envelope.id) < 0) return null;
    const events: EventEnvelope[] = [];
    for (let i = firstAfter(recent, afterId, (r) => r.envelope.id); i < recent.length; i++) {
      if (audiences.includes(recent[i]!.audience)) events.push(recent[i]!.envelope);
    }
    return events;
  }

  head(): Promise<EventId> {
    return this.serial(async () => this.newest);
  }

  size(): Promise<number> {
    return this.serial(async () => {
      await this.evictOldest();
      return this.total;
    });
  }

  retained(audience: Audience): Promise<number> {
    return this.serial(async () => {
      await this.evictOldest();
      return this.counts.get(audience) ?? 0;
    });
  }

  readAfter(afterId: EventId, reader?: ReplayReader): Promise<ReplayResult> {
    return this.serial(async () => {
      assertCursorWithin(afterId, this.newest);
      await this.evictOldest();
      if (!sameEpoch(afterId, this.origin)) {
        return { kind: "gap", reason: "unknown_cursor", oldestAvailableId: null, head: this.newest };
      }
      const head = this.newest;
      // A client that had everything (most of them, reconnecting after a deploy) costs no query.
      if (compareEventIds(afterId, head) === 0) return { kind: "events", events: [], head };
      const audiences = reader ? [...new Set(reader.audiences)] : [...this.counts.keys()];
      // Only a gap names the oldest event still kept.
      const oldest = async () => {
        if (audiences.length === 0) return null;
        const [first] = await this.db.query<IdRow>(
          `SELECT ${ID_COLUMNS} FROM "EventLogEntry" WHERE "audience" IN (${placeholders(1, audiences.length)})
           ORDER BY "idMs", "idSeq" LIMIT 1`,
          audiences,
        );
        return first ? join(first) : null;
      };
      if (compareEventIds(afterId, this.origin) < 0) {
        return { kind: "gap", reason: "unknown_cursor", oldestAvailableId: await oldest(), head };
      }
      if (
        compareEventIds(afterId, this.floor) < 0 ||
        audiences.some((a) => compareEventIds(afterId, this.floors.get(a) ?? this.origin) < 0)
      ) {
        return { kind: "gap", reason: "retention_exceeded", oldestAvailableId: await oldest(), head };
      }
      // Past the gap checks, every event after the cursor in the reader's audiences is still stored.
      const candidates = this.recentAfter(afterId, audiences) ?? (await this.stored(afterId, audiences));
      const events = reader?.filter ? candidates.filter(reader.filter) : candidates;
      return { kind: "events", events, head };
    });
  }

  private async stored(afterId: EventId, audiences: Audience[]): Promise<EventEnvelope[]> {
    if (audiences.length === 0) return [];
    const after = split(afterId);
    const rows = await this.db.query<{ envelope: string }>(
      `SELECT "envelope"::text AS "envelope" FROM "EventLogEntry"
       WHERE ("idMs" > $1::bigint OR ("idMs" = $1::bigint AND "idSeq" > $2::int))
         AND "audience" IN (${placeholders(3, audiences.length)})
       ORDER BY "idMs", "idSeq"`,
      [after.idMs, after.idSeq, ...audiences],
    );
    return rows.map((row) => JSON.parse(row.envelope) as EventEnvelope);
  }

  /**
   * Stores the event and keeps its audience to its count, in one statement
   * (one round trip, and atomic): once an audience is `trimBatch` over its
   * count, the append also drops its oldest events down to the count, and
   * the newest dropped id becomes the audience's floor.
   */
  private async insert(envelope: EventEnvelope, audience: Audience, key: string | undefined): Promise<void> {
    const { idMs, idSeq } = split(envelope.id);
    const row: SqlParameter[] = [idMs, idSeq, audience, key ?? null, JSON.stringify(envelope), timestamp(this.now())];
    const over = (this.counts.get(audience) ?? 0) + 1 - this.options.maxEvents;
    let dropped = 0;
    if (over <= this.trimBatch) {
      await this.db.execute(INSERT, row);
    } else {
      // Data-modifying CTEs all run, once, on one snapshot: the DELETE sees only
      // earlier rows, so it never drops the event being added.
      const [result] = await this.db.query<{ dropped: number; idMs: string | null; idSeq: number | null }>(
        `WITH added AS (${INSERT} RETURNING 1), gone AS (
          DELETE FROM "EventLogEntry" WHERE ("idMs", "idSeq") IN (
            SELECT "idMs", "idSeq" FROM "EventLogEntry" WHERE "audience" = $3
            ORDER BY "idMs", "idSeq" LIMIT $7::int
          ) RETURNING "idMs", "idSeq"
        ), newest AS (
          SELECT "idMs", "idSeq" FROM gone ORDER BY "idMs" DESC, "idSeq" DESC LIMIT 1
        ), marked AS (
          INSERT INTO "EventLogMark" ("key", "idMs", "idSeq")
          SELECT $8, "idMs", "idSeq" FROM newest
          ON CONFLICT ("key") DO UPDATE SET "idMs" = EXCLUDED."idMs", "idSeq" = EXCLUDED."idSeq"
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone)::int AS "dropped",
               (SELECT "idMs"::text FROM newest) AS "idMs",
               (SELECT "idSeq" FROM newest) AS "idSeq"`,
        [...row, over, `a:${audience}`],
      );
      dropped = result?.dropped ?? 0;
      if (result?.idMs != null && result.idSeq != null) {
        this.floors.set(audience, join({ idMs: result.idMs, idSeq: Number(result.idSeq) }));
      }
    }
    this.counts.set(audience, (this.counts.get(audience) ?? 0) + 1 - dropped);
    this.total += 1 - dropped;
  }

  /** By age (checked every few seconds) and down to the total, oldest first whatever the audience. */
  private async evictOldest(): Promise<void> {
    const now = this.now();
    const ageDue = now - this.ageCheckedAt >= Math.min(AGE_CHECK_MS, this.options.maxAgeMs);
    if (!ageDue && this.total <= this.maxTotalEvents + this.trimBatch) return;
    if (ageDue) this.ageCheckedAt = now;
    const byAge = ageDue
      ? ((
          await this.db.query<IdRow>(
            `SELECT ${ID_COLUMNS} FROM "EventLogEntry" WHERE "createdAt" < $1::timestamp
             ORDER BY "idMs" DESC, "idSeq" DESC LIMIT 1`,
            [timestamp(now - this.options.maxAgeMs)],
          )
        )[0] ?? null)
      : null;
    let newestGone = byAge;
    if (byAge) {
      await this.removeThrough(byAge);
      await this.recount();
    }
    const over = this.total - this.maxTotalEvents;
    if (over > 0) {
      // Oldest first across audiences: everything up to the over-th oldest event.
      const [last] = await this.db.query<IdRow>(
        `SELECT ${ID_COLUMNS} FROM "EventLogEntry" ORDER BY "idMs", "idSeq" OFFSET $1::int LIMIT 1`,
        [over - 1],
      );
      if (last) {
        await this.removeThrough(last);
        newestGone = last;
      }
      await this.recount();
    }
    if (newestGone) await this.mark("floor", newestGone, (id) => (this.floor = id));
  }

  /** Deletes every event up to and including `last`, whatever its audience. */
  private async removeThrough(last: IdRow): Promise<void> {
    await this.db.execute(
      `DELETE FROM "EventLogEntry" WHERE "idMs" < $1::bigint OR ("idMs" = $1::bigint AND "idSeq" <= $2::int)`,
      [last.idMs, last.idSeq],
    );
  }

  private async mark(key: string, row: IdRow, apply: (id: EventId) => void): Promise<void> {
    await this.db.execute(
      `INSERT INTO "EventLogMark" ("key", "idMs", "idSeq") VALUES ($1, $2::bigint, $3::int)
       ON CONFLICT ("key") DO UPDATE SET "idMs" = EXCLUDED."idMs", "idSeq" = EXCLUDED."idSeq"`,
      [key, row.idMs, row.idSeq],
    );
    apply(join(row));
  }
}
