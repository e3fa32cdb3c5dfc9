/**
 * The replay log on the app's database: the embedded default's history
 * survives a restart, so a client resumes with the events it missed instead
 * of `system.gap (unknown_cursor)`. It implements the event layer's
 * ReplayLog contract (src/server/events/replay-log.ts) and runs its
 * conformance suite; it lives beside the database (not in the core) because
 * it speaks Prisma.
 *
 * One process owns it (PGlite is single-process; several instances use the
 * Redis log), so ids come from this process: `<ms>-<seq>`, above every id
 * already stored. Appends, evictions and reads run one after another, so a
 * replay never sees a half-applied eviction and the head only covers events
 * that are stored.
 */
import pg from "pg";

import { Prisma, type PrismaClient } from "~/generated/prisma/client";
import { logger } from "~/server/platform/logger";
import type { StatementRunner } from "./adapter";
import type { EventEnvelope } from "~/server/events";
import {
  EventIdGenerator,
  assertCursorWithin,
  compareEventIds,
  firstAfter,
  parseEventId,
  sameEpoch,
  type EventId,
} from "~/server/events/event-id";
import type {
  Appended,
  EventDraft,
  ReplayLog,
  ReplayLogRetention,
  ReplayReader,
  ReplayResult,
} from "~/server/events/replay-log";
import { audienceOf, type Audience } from "~/server/events/targets";

const AGE_CHECK_MS = 5_000;

type Row = [idMs: bigint, idSeq: number, audience: Audience, key: string | null, envelope: string, createdAt: Date];

const insertRow = (...[idMs, idSeq, audience, key, envelope, createdAt]: Row) => Prisma.sql`
  INSERT INTO "EventLogEntry" ("idMs", "idSeq", "audience", "key", "envelope", "createdAt")
  VALUES (${idMs}, ${idSeq}, ${audience}, ${key}, ${envelope}::jsonb, ${createdAt})`;
/** The same insert for the statement runner: its text once, its parameters as Prisma's client hands them over. */
const INSERT_TEXT = insertRow(0n, 0, "broadcast", null, "", new Date(0)).text;
const INSERT_ARG_TYPES = (["bigint", "int", "string", "string", "string", "datetime"] as const).map((scalarType) => ({
  scalarType,
  arity: "scalar" as const,
}));
const driverArgs = (row: Row) =>
  row.map((value) => (typeof value === "bigint" ? String(value) : value instanceof Date ? value.toISOString() : value));

const split = (id: EventId) => {
  const { ms, seq } = parseEventId(id);
  return { idMs: BigInt(ms), idSeq: seq };
};
const join = (row: { idMs: bigint; idSeq: number }): EventId => `${row.idMs}-${row.idSeq}`;

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
  /** Runs the insert every emit runs (set once loaded, if given). */
  private driver: StatementRunner | null = null;
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
    private readonly db: PrismaClient,
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
      /**
       * Runs the insert every emit runs, connected on first use: Prisma's
       * driver adapter itself (PostgreSQL or PGlite), without the client's
       * query interpreter and tracing around the same driver call, which
       * cost a noticeable share of an emit. Without it, every statement goes
       * through the client.
       */
      driver?: () => Promise<StatementRunner>;
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
    if (this.options.driver) this.driver = await this.options.driver();
    const marks = await this.db.eventLogMark.findMany();
    let origin = marks.find((m) => m.key === "origin");
    if (!origin) {
      const now = this.now();
      origin = await this.db.eventLogMark.create({ data: { key: "origin", idMs: BigInt(now - 1), idSeq: 0 } });
    }
    this.origin = join(origin);
    for (const mark of marks) {
      if (mark.key === "floor") this.floor = join(mark);
      else if (mark.key.startsWith("a:")) this.floors.set(mark.key.slice(2) as Audience, join(mark));
    }
    if (compareEventIds(this.floor, this.origin) < 0) this.floor = this.origin;
    const newest = await this.db.eventLogEntry.findFirst({ orderBy: [{ idMs: "desc" }, { idSeq: "desc" }] });
    this.newest = newest ? join(newest) : this.origin;
    this.ids = new EventIdGenerator(() => this.now(), this.newest);
    await this.recount();
  }

  private async recount(): Promise<void> {
    const groups = await this.db.eventLogEntry.groupBy({ by: ["audience"], _count: { _all: true } });
    this.counts.clear();
    this.total = 0;
    for (const group of groups) {
      this.counts.set(group.audience as Audience, group._count._all);
      this.total += group._count._all;
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
      const earlier = await this.db.eventLogEntry.findUnique({ where: { key }, select: { envelope: true } });
      if (earlier) return { envelope: Object.freeze(earlier.envelope as unknown as EventEnvelope), repeated: true };
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
        const first = await this.db.eventLogEntry.findFirst({
          where: { audience: { in: audiences } },
          orderBy: [{ idMs: "asc" }, { idSeq: "asc" }],
        });
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
    const after = split(afterId);
    const rows = await this.db.eventLogEntry.findMany({
      where: {
        audience: { in: audiences },
        OR: [{ idMs: { gt: after.idMs } }, { idMs: after.idMs, idSeq: { gt: after.idSeq } }],
      },
      orderBy: [{ idMs: "asc" }, { idSeq: "asc" }],
    });
    return rows.map((row) => row.envelope as unknown as EventEnvelope);
  }

  /**
   * Stores the event and keeps its audience to its count, in one statement
   * (one round trip, and atomic): once an audience is `trimBatch` over its
   * count, the append also drops its oldest events down to the count, and
   * the newest dropped id becomes the audience's floor. Raw SQL, because
   * Prisma's query builder costs several times what the statement does and
   * this runs on every emit.
   */
  private async insert(envelope: EventEnvelope, audience: Audience, key: string | undefined): Promise<void> {
    const { idMs, idSeq } = split(envelope.id);
    const row: Row = [idMs, idSeq, audience, key ?? null, JSON.stringify(envelope), new Date()];
    const over = (this.counts.get(audience) ?? 0) + 1 - this.options.maxEvents;
    let dropped = 0;
    if (over <= this.trimBatch) {
      if (this.driver) {
        await this.driver.executeRaw({ sql: INSERT_TEXT, args: driverArgs(row), argTypes: INSERT_ARG_TYPES });
      } else {
        await this.db.$executeRaw(insertRow(...row));
      }
    } else {
      // Data-modifying CTEs all run, once, on one snapshot: the DELETE sees only
      // earlier rows, so it never drops the event being added.
      const [result] = await this.db.$queryRaw<{ dropped: number; idMs: bigint | null; idSeq: number | null }[]>`
        WITH added AS (${insertRow(...row)} RETURNING 1), gone AS (
          DELETE FROM "EventLogEntry" WHERE ("idMs", "idSeq") IN (
            SELECT "idMs", "idSeq" FROM "EventLogEntry" WHERE "audience" = ${audience}
            ORDER BY "idMs", "idSeq" LIMIT ${over}
          ) RETURNING "idMs", "idSeq"
        ), newest AS (
          SELECT "idMs", "idSeq" FROM gone ORDER BY "idMs" DESC, "idSeq" DESC LIMIT 1
        ), marked AS (
          INSERT INTO "EventLogMark" ("key", "idMs", "idSeq")
          SELECT ${`a:${audience}`}, "idMs", "idSeq" FROM newest
          ON CONFLICT ("key") DO UPDATE SET "idMs" = EXCLUDED."idMs", "idSeq" = EXCLUDED."idSeq"
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone)::int AS dropped,
               (SELECT "idMs" FROM newest) AS "idMs",
               (SELECT "idSeq" FROM newest) AS "idSeq"`;
      dropped = result?.dropped ?? 0;
      if (result?.idMs != null && result.idSeq != null) {
        this.floors.set(audience, join({ idMs: BigInt(result.idMs), idSeq: Number(result.idSeq) }));
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
    const cutoff = new Date(now - this.options.maxAgeMs);
    const byAge = ageDue
      ? await this.db.eventLogEntry.findFirst({
          where: { createdAt: { lt: cutoff } },
          orderBy: [{ idMs: "desc" }, { idSeq: "desc" }],
          select: { idMs: true, idSeq: true },
        })
      : null;
    let newestGone = byAge;
    if (byAge) {
      await this.removeThrough(byAge);
      await this.recount();
    }
    const over = this.total - this.maxTotalEvents;
    if (over > 0) {
      // Oldest first across audiences: everything up to the over-th oldest event.
      const last = await this.db.eventLogEntry.findFirst({
        orderBy: [{ idMs: "asc" }, { idSeq: "asc" }],
        skip: over - 1,
        select: { idMs: true, idSeq: true },
      });
      if (last) {
        await this.removeThrough(last);
        newestGone = last;
      }
      await this.recount();
    }
    if (newestGone) await this.mark("floor", newestGone, (id) => (this.floor = id));
  }

  /** Deletes every event up to and including `last`, whatever its audience. */
  private async removeThrough(last: { idMs: bigint; idSeq: number }): Promise<void> {
    await this.db.eventLogEntry.deleteMany({
      where: { OR: [{ idMs: { lt: last.idMs } }, { idMs: last.idMs, idSeq: { lte: last.idSeq } }] },
    });
  }

  private async mark(key: string, row: { idMs: bigint; idSeq: number }, apply: (id: EventId) => void): Promise<void> {
    await this.db.eventLogMark.upsert({
      where: { key },
      create: { key, idMs: row.idMs, idSeq: row.idSeq },
      update: { idMs: row.idMs, idSeq: row.idSeq },
    });
    apply(join(row));
  }
}

/** Held for the life of the process that owns the database log. */
const OWNER_LOCK = 7_413_003;

/**
 * On PostgreSQL, makes this process the database log's one owner: a session
 * advisory lock on a connection of its own, held until the process exits. A
 * second instance on the same database without Redis would number events
 * on its own and clash with this one's ids, so it is refused at start with
 * an error that says what to do. (PGlite enforces one process by itself.)
 */
export async function claimDatabaseLog(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [OWNER_LOCK]);
  if (!rows[0]?.locked) {
    await client.end();
    throw new Error(
      "another instance already keeps its event history in this database (DATABASE_URL) without Redis; several instances need REDIS_URL, so they share one event stream",
    );
  }
  // Losing the connection loses the lock: say so loudly (another instance could then start and clash).
  client.on("error", (error) =>
    logger.error(
      { event: "events.log_lock_lost", message: error.message },
      "lost the database log's ownership lock; restart this instance",
    ),
  );
}
