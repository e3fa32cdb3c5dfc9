/**
 * The transactional outbox: an event is recorded in the same database
 * transaction as the change it describes, so a subscriber never hears of a
 * change the database does not have, and no committed change loses its
 * event to a crash. A relay publishes committed rows to the bus in commit
 * order and marks them; after a crash it carries on from the first row not
 * marked.
 *
 *   await withEvents(db, async (tx, emit) => {
 *     const order = await tx.order.update({ ... });
 *     await emit("order.status.changed", { ... }, { kind: "organization", organizationId });
 *   });
 *
 * Guarantees: validated against the catalog like `bus.emit` (a bad event
 * throws and rolls the change back); nothing is published for a rolled-back
 * transaction; events reach the bus in commit order. Publishing is at least
 * once, delivery exactly once: a row is published under the key
 * `outbox:<seq>`, and the replay log gives a key it has seen its first id
 * back instead of a second event (a crash after the bus took an event and
 * before its row was marked, or two relays on one row). Published rows are
 * deleted once older than the replay retention (the replay log is the
 * history; the outbox is only the hand-over).
 *
 * On PostgreSQL, a commit also wakes the relays of other instances (NOTIFY
 * on `outbox_committed`); everywhere, the committing process wakes its own
 * relay and a poll catches the rest.
 */
import pg from "pg";

import type { Prisma, PrismaClient } from "~/generated/prisma/client";
import { env } from "~/env";
import { runtime } from "~/server/runtime";
import type { EmittableEventName, EventDraft, EventPayload, EventTarget } from "~/server/events";
import { logger } from "~/server/platform/logger";

type Tx = Prisma.TransactionClient;

/** Records an event in the transaction; resolves with its outbox row's `seq`. */
export type EmitInTransaction = <N extends EmittableEventName>(
  name: N,
  payload: EventPayload<N>,
  target: EventTarget,
) => Promise<bigint>;

/** Emitting transactions queue on this lock, so their rows' `seq` order is their commit order. */
const EMIT_LOCK = 7_413_001;
/** Notified on commit of a transaction that recorded events (PostgreSQL delivers it at commit only). */
const OUTBOX_CHANNEL = "outbox_committed";
/** Rows deleted per cleanup statement, so a backlog never holds a long lock. */
const CLEANUP_BATCH = 1_000;

/** Records an event in `tx`; it is published once `tx` commits. Resolves with the row's `seq`. */
export async function emitInTransaction<N extends EmittableEventName>(
  tx: Tx,
  name: N,
  payload: EventPayload<N>,
  target: EventTarget,
): Promise<bigint> {
  const draft = runtime().events.bus.validate(name, payload, target);
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${EMIT_LOCK})`;
  const row = await tx.outboxEvent.create({
    data: { draft: draft as unknown as Prisma.InputJsonValue },
    select: { seq: true },
  });
  await tx.$executeRaw`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`;
  return row.seq;
}

/** The id an outbox row was published under, as subscribers see it (sealed), once the relay published it. */
export async function publishedEventId(db: PrismaClient, seq: bigint): Promise<string | null> {
  const row = await db.outboxEvent.findUnique({ where: { seq }, select: { eventId: true } });
  return row?.eventId ? runtime().events.cursors.seal(row.eventId) : null;
}

/** Runs `fn` in a transaction whose events are published once it commits (and wakes the relay). */
export async function withEvents<T>(db: PrismaClient, fn: (tx: Tx, emit: EmitInTransaction) => Promise<T>): Promise<T> {
  const result = await db.$transaction((tx) =>
    fn(tx, (name, payload, target) => emitInTransaction(tx, name, payload, target)),
  );
  // Published before the caller answers, as `bus.emit` would (unless this process does not relay).
  await runtime().outboxFor(db).wake();
  return result;
}

/** Publishes committed outbox rows to the bus, oldest first. */
export class OutboxRelay {
  private draining: Promise<void> | null = null;
  private again = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private cleanedAt = 0;

  constructor(
    private readonly db: PrismaClient,
    private readonly options: {
      pollMs: number;
      /** False: this process only records; another one (a worker, another instance) publishes. */
      enabled?: boolean;
      /** Published rows older than this are deleted. */
      keepPublishedMs: number;
    },
  ) {}

  private get enabled(): boolean {
    return this.options.enabled ?? true;
  }

  /**
   * Polls every `pollMs`: rows committed by other instances, and rows a crash
   * left behind (the first poll, `pollMs` after start, publishes those).
   */
  start(): void {
    if (!this.enabled || this.timer || this.options.pollMs <= 0) return;
    this.timer = setInterval(() => void this.wake(), this.options.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Publishes what is committed now; resolves when done (a call while draining drains again after). */
  wake(): Promise<void> {
    if (this.stopped || !this.enabled) return Promise.resolve();
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          while (await this.publishOne()) {
            // one row at a time, in seq order: a failure leaves every earlier row published
          }
        } while (this.again);
        await this.cleanUp();
      } catch (error) {
        logger.error(
          { event: "outbox.relay_failed", message: (error as Error).message },
          "outbox relay failed; the rows stay and are retried",
        );
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }

  /**
   * Publishes the oldest unpublished row; false when there is none. No
   * transaction is held while the bus publishes (the embedded database has
   * one connection, and the replay log may live in it): the key makes a
   * second publish of the row, by a crash's retry or another relay, return
   * the first id, and each relay goes in seq order, so commit order holds.
   */
  private async publishOne(): Promise<boolean> {
    const row = await this.db.outboxEvent.findFirst({ where: { publishedAt: null }, orderBy: { seq: "asc" } });
    if (!row) return false;
    const envelope = await runtime().events.bus.publish(row.draft as unknown as EventDraft, {
      key: `outbox:${row.seq}`,
    });
    await this.db.outboxEvent.updateMany({
      where: { seq: row.seq, publishedAt: null },
      data: { publishedAt: new Date(), eventId: envelope.id },
    });
    return true;
  }

  /** Deletes rows published longer ago than the retention, at most once a minute, in batches. */
  private async cleanUp(): Promise<void> {
    const now = Date.now();
    if (now - this.cleanedAt < 60_000) return;
    this.cleanedAt = now;
    const before = new Date(now - this.options.keepPublishedMs);
    for (;;) {
      const deleted = await this.db.$executeRaw`
        DELETE FROM "OutboxEvent" WHERE seq IN (
          SELECT seq FROM "OutboxEvent" WHERE "publishedAt" < ${before} ORDER BY seq LIMIT ${CLEANUP_BATCH}
        )`;
      if (deleted < CLEANUP_BATCH) return;
    }
  }
}

/** The process's relay, as the environment configures it (the runtime makes one). */
export function createOutboxRelay(db: PrismaClient): OutboxRelay {
  return new OutboxRelay(db, {
    pollMs: env.OUTBOX_POLL_MS,
    enabled: env.OUTBOX_RELAY,
    keepPublishedMs: env.EVENTS_RETENTION_MS,
  });
}

/**
 * On PostgreSQL: wakes `relay` whenever any instance commits events (LISTEN
 * on a connection of its own, re-established after a drop; the poll covers
 * the moments without it). Resolves once listening; returns the stop function.
 */
export async function wakeOnCommit(databaseUrl: string, relay: OutboxRelay): Promise<() => Promise<void>> {
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | null = null;
  const retryLater = () => {
    if (stopped) return;
    retry = setTimeout(() => void connect().catch(() => {}), 1_000);
    retry.unref();
  };
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: databaseUrl });
    next.on("notification", () => void relay.wake());
    next.on("error", (error) => {
      logger.warn({ event: "outbox.listen_lost", message: error.message }, "outbox LISTEN connection lost; retrying");
      void next.end().catch(() => {});
      if (client === next) {
        client = null;
        retryLater();
      }
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${OUTBOX_CHANNEL}`);
      client = next;
      // Whatever committed while not listening.
      void relay.wake();
    } catch (error) {
      await next.end().catch(() => {});
      retryLater();
      throw error;
    }
  };
  await connect().catch((error: Error) =>
    logger.warn({ event: "outbox.listen_failed", message: error.message }, "outbox LISTEN failed; polling only"),
  );
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    await client?.end().catch(() => {});
  };
}
