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
 * once: a crash after the bus took an event and before its row was marked
 * publishes it again after the restart, under a new id.
 */
import type { Prisma, PrismaClient } from "~/generated/prisma/client";
import { env } from "~/env";
import { getEventLayer } from "~/server/event-layer";
import type { EmittableEventName, EventDraft, EventPayload, EventTarget } from "~/server/events";
import { logger } from "~/server/logger";
import { processSingleton } from "~/server/process-singleton";

type Tx = Prisma.TransactionClient;

/** Records an event in the transaction; resolves with its outbox row's `seq`. */
export type EmitInTransaction = <N extends EmittableEventName>(
  name: N,
  payload: EventPayload<N>,
  target: EventTarget,
) => Promise<bigint>;

/** Emitting transactions queue on this lock, so their rows' `seq` order is their commit order. */
const EMIT_LOCK = 7_413_001;
/** One relay at a time publishes (several instances, or several bundles of one). */
const RELAY_LOCK = 7_413_002;

/** Records an event in `tx`; it is published once `tx` commits. Resolves with the row's `seq`. */
export async function emitInTransaction<N extends EmittableEventName>(
  tx: Tx,
  name: N,
  payload: EventPayload<N>,
  target: EventTarget,
): Promise<bigint> {
  const draft = getEventLayer().bus.validate(name, payload, target);
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${EMIT_LOCK})`;
  const row = await tx.outboxEvent.create({
    data: { draft: draft as unknown as Prisma.InputJsonValue },
    select: { seq: true },
  });
  return row.seq;
}

/** The stream id an outbox row was published under, once the relay published it. */
export async function publishedEventId(db: PrismaClient, seq: bigint): Promise<string | null> {
  const row = await db.outboxEvent.findUnique({ where: { seq }, select: { eventId: true } });
  return row?.eventId ?? null;
}

/** Runs `fn` in a transaction whose events are published once it commits (and wakes the relay). */
export async function withEvents<T>(db: PrismaClient, fn: (tx: Tx, emit: EmitInTransaction) => Promise<T>): Promise<T> {
  const result = await db.$transaction((tx) =>
    fn(tx, (name, payload, target) => emitInTransaction(tx, name, payload, target)),
  );
  // Published before the caller answers, as `bus.emit` would (unless this process does not relay).
  await outboxRelay(db).wake();
  return result;
}

/** Publishes committed outbox rows to the bus, oldest first. */
export class OutboxRelay {
  private draining: Promise<void> | null = null;
  private again = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  constructor(
    private readonly db: PrismaClient,
    private readonly pollMs: number,
    /** False: this process only records; another one (a worker, another instance) publishes. */
    private readonly enabled = true,
  ) {}

  /**
   * Polls every `pollMs`: rows committed by other instances, and rows a crash
   * left behind (the first poll, `pollMs` after start, publishes those).
   */
  start(): void {
    if (!this.enabled || this.timer || this.pollMs <= 0) return;
    this.timer = setInterval(() => void this.wake(), this.pollMs);
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
            // one row per transaction: a failure leaves every earlier row marked
          }
        } while (this.again);
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

  /** Publishes the oldest unpublished row; false when there is none (or another relay holds the lock). */
  private async publishOne(): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const [lock] = await tx.$queryRaw<
        { locked: boolean }[]
      >`SELECT pg_try_advisory_xact_lock(${RELAY_LOCK}) AS locked`;
      if (!lock?.locked) return false;
      const row = await tx.outboxEvent.findFirst({ where: { publishedAt: null }, orderBy: { seq: "asc" } });
      if (!row) return false;
      const envelope = await getEventLayer().bus.publish(row.draft as unknown as EventDraft);
      await tx.outboxEvent.update({ where: { seq: row.seq }, data: { publishedAt: new Date(), eventId: envelope.id } });
      return true;
    });
  }
}

/** The process's relay (one per process, whichever bundle asks). */
export function outboxRelay(db: PrismaClient): OutboxRelay {
  return processSingleton("outbox-relay", () => new OutboxRelay(db, env.OUTBOX_POLL_MS, env.OUTBOX_RELAY));
}
