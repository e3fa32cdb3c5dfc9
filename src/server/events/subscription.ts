/**
 * One subscription's life: register, listen, replay, go live, clean up.
 *
 * The order is what makes resume exact. The subscriber is added to the bus
 * before the log is read, so an event emitted while replaying is both in the
 * replay and in the live queue; live events at or below the replay cursor are
 * dropped. Nothing is lost at the seam and nothing arrives twice.
 *
 * tRPC writes the SSE `connected` frame before this generator runs, so
 * `system.ready` is the client's signal that it is live; its id is a cursor.
 */
import { tracked, type TrackedEnvelope } from "@trpc/server";

import type { EventBus, EventBusLogger } from "./bus";
import type { EventName } from "./catalog";
import type { EventEnvelope, LiveEvent } from "./envelope";
import { toLiveEvent } from "./envelope";
import { InvalidEventIdError, SubscriptionRevokedError } from "./errors";
import { compareEventIds, parseEventId, type EventId } from "./event-id";
import type { ConnectionPrincipal, ConnectionRegistry } from "./registry";
import type { SubscriberIdentity } from "./targets";

export type StreamIdentity = SubscriberIdentity & ConnectionPrincipal;

export interface StreamEventsOptions {
  bus: EventBus;
  registry: ConnectionRegistry;
  logger: EventBusLogger;
  identity: StreamIdentity;
  /**
   * Re-reads the subscriber's entitlements every `intervalMs` while the stream
   * is open, so a membership removed (or a session expired) stops delivery
   * without waiting for a reconnect. `resolve` returns null when the session
   * is no longer valid; the stream then ends with UNAUTHORIZED.
   */
  reauthorize?: { intervalMs: number; resolve: () => Promise<StreamIdentity | null> };
  names: readonly EventName[] | null;
  lastEventId: EventId | null;
  signal: AbortSignal | undefined;
  maxQueuedEvents: number;
}

/** A bounded FIFO whose reader can be woken by an abort. */
class EnvelopeQueue {
  private items: EventEnvelope[] = [];
  private waiter: (() => void) | null = null;
  overflowed = false;

  constructor(private readonly limit: number) {}

  push(envelope: EventEnvelope) {
    if (this.items.length >= this.limit) {
      this.overflowed = true;
    } else {
      this.items.push(envelope);
    }
    this.wake();
  }

  /** Drops everything queued; the reader catches up from the replay log instead. */
  reset() {
    this.items = [];
    this.overflowed = false;
  }

  wake() {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** Resolves with the queued items (possibly none, when woken by an abort). */
  async take(): Promise<EventEnvelope[]> {
    if (this.items.length === 0 && !this.overflowed) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    const batch = this.items;
    this.items = [];
    return batch;
  }
}

/**
 * Throws InvalidEventIdError for a malformed cursor or one this stream never
 * issued (ahead of its newest id). Older cursors are fine: they get a gap.
 */
export async function assertResumableCursor(bus: EventBus, lastEventId: EventId): Promise<void> {
  parseEventId(lastEventId);
  const head = await bus.head();
  if (compareEventIds(lastEventId, head) > 0) {
    throw new InvalidEventIdError(
      `lastEventId ${lastEventId} is ahead of this stream (newest is ${head}); it was not issued here`,
    );
  }
}

function sameEntitlements(a: StreamIdentity, b: StreamIdentity): boolean {
  const orgs = (x: StreamIdentity) => [...x.organizationIds].sort().join(",");
  const meta = (x: StreamIdentity) => JSON.stringify(Object.entries(x.metadata).sort(([k1], [k2]) => k1.localeCompare(k2)));
  return orgs(a) === orgs(b) && meta(a) === meta(b);
}

export async function* streamEvents(
  options: StreamEventsOptions,
): AsyncGenerator<TrackedEnvelope<LiveEvent>, void, unknown> {
  const { bus, registry, logger, signal } = options;
  let identity = options.identity;
  if (options.lastEventId !== null) await assertResumableCursor(bus, options.lastEventId);
  const names = options.names && options.names.length > 0 ? new Set(options.names) : null;

  // Throws ConnectionLimitError before anything is held.
  const connection = registry.open(identity);
  const log = { connectionId: connection.connectionId, userId: identity.userId, sessionId: identity.sessionId };
  const queue = new EnvelopeQueue(options.maxQueuedEvents);
  const subscribeAs = (who: StreamIdentity) =>
    bus.subscribe({
      id: connection.connectionId,
      userId: who.userId,
      sessionId: who.sessionId,
      signInSessionId: who.signInSessionId,
      organizationIds: who.organizationIds,
      metadata: who.metadata,
      names,
      deliver: (envelope) => queue.push(envelope),
    });
  let unsubscribe = subscribeAs(identity);
  let revoked: string | null = null;
  let closed = false;

  let reauthorizeTimer: NodeJS.Timeout | undefined;
  if (options.reauthorize && options.reauthorize.intervalMs > 0) {
    const { resolve, intervalMs } = options.reauthorize;
    let checking = false;
    reauthorizeTimer = setInterval(() => {
      if (checking) return;
      checking = true;
      resolve()
        .then((next) => {
          // A check still in flight when the stream ended must not subscribe again.
          if (closed) return;
          if (!next) {
            revoked = "the session is no longer valid; sign in again";
            queue.wake();
            return;
          }
          if (sameEntitlements(identity, next)) return;
          // Subscribe with the new entitlements before dropping the old ones: an
          // event caught by both is dropped by the cursor check below.
          const previous = unsubscribe;
          unsubscribe = subscribeAs(next);
          previous();
          registry.updateOrganizations(connection.connectionId, next.organizationIds);
          logger.info(
            { event: "connection.reauthorized", ...log, organizationIds: next.organizationIds },
            "subscription entitlements changed",
          );
          identity = next;
        })
        .catch((error: unknown) => logger.error({ event: "connection.reauthorize_failed", ...log, err: error }, "re-authorisation failed"))
        .finally(() => {
          checking = false;
        });
    }, intervalMs);
    reauthorizeTimer.unref();
  }
  const onAbort = () => queue.wake();
  signal?.addEventListener("abort", onAbort);
  logger.info(
    { event: "connection.opened", ...log, organizationIds: identity.organizationIds, resumeFrom: options.lastEventId },
    "subscription opened",
  );

  let reason = "client_closed";
  let cursor: EventId;
  let replayed = 0;

  // Reads the log after `from` and yields it (or a gap); used to resume and to
  // catch up a subscriber whose queue overflowed, so memory stays bounded.
  async function* catchUp(from: EventId) {
    const replay = await bus.readAfter(from, identity, names);
    if (replay.kind === "gap") {
      cursor = replay.head;
      logger.warn({ event: "connection.gap", ...log, lastEventId: from, reason: replay.reason }, "resume gap");
      yield tracked(cursor, {
        id: cursor,
        name: "system.gap",
        version: 1,
        emittedAt: new Date().toISOString(),
        data: { lastEventId: from, oldestAvailableId: replay.oldestAvailableId, reason: replay.reason },
      } satisfies LiveEvent);
      return;
    }
    cursor = from;
    for (const envelope of replay.events) {
      cursor = envelope.id;
      yield tracked(envelope.id, toLiveEvent(envelope));
      registry.recordSent(connection.connectionId);
      replayed++;
    }
    if (compareEventIds(replay.head, cursor) > 0) cursor = replay.head;
  }

  try {
    // Read after subscribing: anything newer is already queued for us.
    cursor = await bus.head();
    if (options.lastEventId !== null) yield* catchUp(options.lastEventId);
    yield tracked(cursor, {
      id: cursor,
      name: "system.ready",
      version: 1,
      emittedAt: new Date().toISOString(),
      data: { connectionId: connection.connectionId, resumedFrom: options.lastEventId, replayed },
    } satisfies LiveEvent);

    while (!signal?.aborted) {
      const batch = await queue.take();
      if (revoked) throw new SubscriptionRevokedError(revoked);
      if (queue.overflowed) {
        queue.reset();
        logger.warn({ event: "connection.catch_up", ...log, cursor }, "subscriber fell behind; catching up from the log");
        yield* catchUp(cursor);
        continue;
      }
      for (const envelope of batch) {
        if (compareEventIds(envelope.id, cursor) <= 0) continue;
        cursor = envelope.id;
        yield tracked(envelope.id, toLiveEvent(envelope));
        registry.recordSent(connection.connectionId);
      }
    }
  } catch (error) {
    if (error instanceof SubscriptionRevokedError) {
      reason = "revoked";
    } else {
      reason = "error";
      logger.error({ event: "connection.error", ...log, err: error }, "subscription failed");
    }
    throw error;
  } finally {
    closed = true;
    clearInterval(reauthorizeTimer);
    signal?.removeEventListener("abort", onAbort);
    unsubscribe();
    const record = registry.close(connection.connectionId);
    logger.info(
      {
        event: "connection.closed",
        ...log,
        reason,
        eventsSent: record?.eventsSent ?? 0,
        durationMs: record ? Date.now() - record.connectedAt : 0,
      },
      "subscription closed",
    );
  }
}
