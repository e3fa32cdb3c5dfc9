/**
 * One subscription's life: register, listen, replay, say it is ready, go
 * live, re-authorise, clean up. Every way of serving a stream (tRPC's
 * handler, the caller, a raw SSE writer) drives this one class through a
 * `SubscriptionSink`.
 *
 * The order is what makes resume exact. The subscriber is added to the bus
 * before the log is read, so an event emitted while replaying is both in the
 * replay and in the pending buffer; anything at or below the cursor is
 * dropped. Nothing is lost at the seam and nothing arrives twice.
 *
 * Live delivery is a synchronous call per event, with no queue of its own:
 * the sink decides how much it holds. When it says it is full, the
 * subscription stops writing and, once the sink asks to `resume`, catches up
 * from the replay log, so a slow reader never grows memory.
 */
import type { EventBus } from "./bus";
import type { EventName } from "./catalog";
import { toStreamItem, UNREPLAYED_ID, type EventEnvelope, type StreamItem } from "./envelope";
import { SubscriptionRevokedError } from "./errors";
import { assertCursorWithin, compareEventIds, sameEpoch, type EventId } from "./event-id";
import { sameEntitlements, type Entitlements, type ResolvedSubscriber } from "./identity";
import type { EventLayerLogger } from "./logger";
import type { Presence } from "./presence";
import type { Reauthorizable, Reauthorizer } from "./reauthorizer";
import type { ConnectionRecord, ConnectionRegistry } from "./registry";
import { gapItem, readyItem } from "./system-events";

/** Where a subscription writes its items. */
export interface SubscriptionSink {
  /**
   * Takes one item. Returns false when the sink holds as much as it will for
   * now: the subscription stops writing until the sink calls `resume()`.
   */
  write(item: StreamItem): boolean;
  /** The subscription ended; `error` says why when the client did not end it. */
  end(error?: unknown): void;
}

export interface SubscriptionOptions {
  bus: EventBus;
  registry: ConnectionRegistry;
  presence: Presence;
  logger: EventLayerLogger;
  identity: ResolvedSubscriber;
  /** Only these names (system events always arrive); null or empty for all. */
  names: readonly EventName[] | null;
  lastEventId: EventId | null;
  sink: SubscriptionSink;
  /** Live events held while a replay is in flight; beyond it the log is read again. */
  maxPendingEvents: number;
  /**
   * Re-reads the user's entitlements every interval while the stream is
   * open, so a membership removed stops delivery without waiting for a
   * reconnect; a user gone, or a session past `expiresAt`, ends the stream
   * with SubscriptionRevokedError.
   */
  reauthorizer?: Reauthorizer;
  /** When the session ends (ms since the epoch); null when it does not. */
  expiresAt?: number | null;
  /**
   * Whether the stream's sign-in is still valid (not signed out or revoked).
   * Asked with `fresh: false` before the stream goes live (a short cache
   * will do: ending a sign-in updates it at once in this process), and with
   * `fresh: true` at every re-authorisation, so a sign-in ended where this
   * process did not hear of it still ends the stream within one interval.
   */
  signInActive?: (signInSessionId: string, fresh: boolean) => Promise<boolean>;
}

/** Why a subscription closed; "ended": an administrator ended it (its client reconnects and resumes). */
export type CloseReason =
  "client_closed" | "revoked" | "ended" | "error" | "server_closing" | "slow_consumer" | "stalled";

type State = "replaying" | "live" | "behind" | "closed";

export class Subscription implements Reauthorizable {
  private state: State = "replaying";
  private cursor: EventId = "0-0";
  private pending: EventEnvelope[] = [];
  private pendingOverflowed = false;
  private identity: ResolvedSubscriber;
  private readonly names: ReadonlySet<EventName> | null;
  private unsubscribe: () => void = () => {};
  private stopReauthorizing: () => void = () => {};
  private readonly log: Record<string, unknown>;

  /** Registers, replays and writes `system.ready`; throws EventLayerErrors before anything is held. */
  static async open(options: SubscriptionOptions): Promise<Subscription> {
    let subscription: Subscription | undefined = undefined;
    const record = options.registry.open(options.identity, (reason, revoked) =>
      revoked ? subscription?.close("revoked", new SubscriptionRevokedError(reason)) : subscription?.close("ended"),
    );
    subscription = new Subscription(options, record);
    await subscription.start();
    return subscription;
  }

  private constructor(
    private readonly options: SubscriptionOptions,
    /** This subscription's entry in the registry. */
    readonly connection: ConnectionRecord,
  ) {
    this.identity = options.identity;
    this.names = options.names && options.names.length > 0 ? new Set(options.names) : null;
    this.log = {
      connectionId: connection.connectionId,
      userId: this.identity.userId,
      sessionId: this.identity.sessionId,
    };
  }

  get connectionId(): string {
    return this.connection.connectionId;
  }

  get isClosed(): boolean {
    return this.state === "closed";
  }

  /** True while events are delivered as they happen (not replaying, not behind). */
  get isLive(): boolean {
    return this.state === "live";
  }

  private async start(): Promise<void> {
    const { bus, registry, presence, lastEventId } = this.options;
    try {
      // Before anything is announced: a refused cursor must leave no trace (no presence flapping).
      if (lastEventId !== null) assertCursorWithin(lastEventId, await bus.head());
    } catch (error) {
      this.state = "closed";
      registry.close(this.connectionId, "rejected");
      throw error;
    }
    // Presence before subscribing: a fresh subscriber is not told about its own arrival.
    this.settle(
      presence.join(
        this.connectionId,
        { userId: this.identity.userId, userName: this.identity.userName },
        this.identity.organizationIds,
      ),
      "join",
    );
    this.unsubscribe = this.subscribeAs(this.identity);
    // Asked once registered: a sign-in ended from now on ends this stream through the registry, and
    // one ended before it is seen here, so a stream opening while its sign-in ends never goes live.
    const signedIn = this.options.signInActive?.(this.identity.signInSessionId, false) ?? Promise.resolve(true);
    let replayed: number;
    try {
      replayed = await this.catchUp(lastEventId);
      if (!(await signedIn)) {
        this.close("revoked", new SubscriptionRevokedError("the session was ended; sign in again"));
        return;
      }
    } catch (error) {
      this.close("error", error);
      throw error;
    }
    if (this.state === "closed") return; // closed by the client while replaying
    const { logger } = this.options;
    logger.info(
      {
        event: "connection.opened",
        ...this.log,
        organizationIds: this.identity.organizationIds,
        resumeFrom: lastEventId,
      },
      "subscription opened",
    );
    this.send(readyItem(this.cursor, { connectionId: this.connectionId, resumedFrom: lastEventId, replayed }));
    this.goLive();
    this.stopReauthorizing = this.options.reauthorizer?.add(this.identity.userId, this) ?? (() => {});
  }

  /**
   * The sink has room again. A subscription that fell behind reads what it
   * missed from the log (or learns of a gap) and then goes live again.
   */
  resume(): void {
    if (this.state !== "behind") return;
    this.state = "replaying";
    this.connection.state = "replaying";
    this.catchUp(this.cursor)
      .then(() => this.goLive())
      .catch((error: unknown) => this.close("error", error));
  }

  /** Ends the subscription and frees everything it held; idempotent. */
  close(reason: CloseReason, error?: unknown): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.pending = [];
    this.stopReauthorizing();
    this.unsubscribe();
    const { registry, presence, logger } = this.options;
    const record = registry.close(this.connectionId);
    this.settle(presence.leave(this.connectionId), "leave");
    if (reason === "error") logger.error({ event: "connection.error", ...this.log, err: error }, "subscription failed");
    logger.info(
      {
        event: "connection.closed",
        ...this.log,
        reason,
        eventsSent: record?.eventsSent ?? 0,
        durationMs: record ? Date.now() - record.connectedAt : 0,
      },
      "subscription closed",
    );
    this.options.sink.end(reason === "client_closed" ? undefined : error);
  }

  /** Presence may be remote: its failures are logged, never thrown into the stream. */
  private settle(result: void | Promise<void>, what: string): void {
    void Promise.resolve(result).catch((error: unknown) =>
      this.options.logger.error({ event: "presence.failed", ...this.log, err: error }, `presence ${what} failed`),
    );
  }

  private subscribeAs(who: ResolvedSubscriber): () => void {
    return this.options.bus.subscribe({
      id: this.connectionId,
      userId: who.userId,
      sessionId: who.sessionId,
      signInSessionId: who.signInSessionId,
      allTabs: who.allTabs,
      organizationIds: who.organizationIds,
      metadata: who.metadata,
      names: this.names,
      deliver: (envelope) => this.onEnvelope(envelope),
    });
  }

  private onEnvelope(envelope: EventEnvelope): void {
    if (envelope.id === UNREPLAYED_ID) {
      // State, not history: only while live. A subscription that is catching up says
      // `system.ready` when it is done, and the client reads the state then.
      if (this.state === "live") this.send({ id: this.cursor, event: toStreamItem(envelope).event });
      return;
    }
    switch (this.state) {
      case "live":
        this.deliver(envelope);
        return;
      case "replaying":
        if (this.pending.length < this.options.maxPendingEvents) this.pending.push(envelope);
        else this.pendingOverflowed = true;
        return;
      case "behind":
      case "closed":
        // Behind: the log has it and the catch-up will read it.
        return;
    }
  }

  /** Writes one live event unless already seen; marks the subscription behind when the sink is full. */
  private deliver(envelope: EventEnvelope): void {
    if (!sameEpoch(envelope.id, this.cursor)) {
      // A new log (Redis flushed or replaced): the catch-up reads the old cursor there and sends the gap.
      this.fallBehind();
      this.resume();
      return;
    }
    if (compareEventIds(envelope.id, this.cursor) <= 0) return;
    this.cursor = envelope.id;
    if (!this.send(toStreamItem(envelope))) this.fallBehind();
  }

  private send(item: StreamItem): boolean {
    if (!item.event.name.startsWith("system.")) this.options.registry.recordSent(this.connection);
    return this.options.sink.write(item);
  }

  private fallBehind(): void {
    if (this.state === "closed") return;
    this.state = "behind";
    this.connection.state = "behind";
    this.pending = [];
    this.pendingOverflowed = false;
    this.options.logger.warn(
      { event: "connection.catch_up", ...this.log, cursor: this.cursor },
      "subscriber fell behind; catching up from the log",
    );
  }

  /**
   * Reads the log after `from` (or only its head, for a fresh subscription)
   * and writes it, or a gap. Returns how many events it wrote.
   */
  private async catchUp(from: EventId | null): Promise<number> {
    const { bus, logger } = this.options;
    if (from === null) {
      this.cursor = await bus.head();
      return 0;
    }
    const replay = await bus.readAfter(from, this.identity, this.names);
    if (this.state !== "replaying") return 0;
    if (replay.kind === "gap") {
      this.cursor = replay.head;
      logger.warn({ event: "connection.gap", ...this.log, lastEventId: from, reason: replay.reason }, "resume gap");
      this.options.registry.recordResume(this.connection, { gap: replay.reason });
      this.send(
        gapItem(replay.head, { lastEventId: from, oldestAvailableId: replay.oldestAvailableId, reason: replay.reason }),
      );
      return 0;
    }
    this.cursor = from;
    let written = 0;
    for (const envelope of replay.events) {
      this.cursor = envelope.id;
      written++;
      if (!this.send(toStreamItem(envelope))) {
        this.fallBehind();
        return written;
      }
    }
    // Newer events that are not for this subscriber still move its cursor on.
    if (compareEventIds(replay.head, this.cursor) > 0) this.cursor = replay.head;
    this.options.registry.recordResume(this.connection, { replayed: written });
    return written;
  }

  /** Flushes what arrived during the replay, then delivers live. */
  private goLive(): void {
    while (this.state === "replaying") {
      if (this.pendingOverflowed) {
        // More arrived than we hold: the log has all of it.
        this.fallBehind();
        this.resume();
        return;
      }
      const pending = this.pending;
      this.pending = [];
      this.state = "live";
      this.connection.state = "live";
      for (const envelope of pending) {
        this.deliver(envelope);
        if (this.state !== "live") return;
      }
    }
  }

  /** When the subscription's session ends (epoch ms), if it does. */
  get expiresAt(): number | null {
    return this.options.expiresAt ?? null;
  }

  /** Ends the subscription once its session is past its end. */
  checkExpiry(now: number): void {
    const expiresAt = this.options.expiresAt;
    if (this.state !== "closed" && expiresAt != null && expiresAt <= now) {
      this.close("revoked", new SubscriptionRevokedError("the session has expired; sign in again"));
    }
  }

  /** Reads the sign-in afresh; ends the stream if it was ended anywhere. */
  private recheckSignIn(): void {
    this.options
      .signInActive?.(this.identity.signInSessionId, true)
      .then((active) => {
        if (!active && this.state !== "closed") {
          this.close("revoked", new SubscriptionRevokedError("the session was ended; sign in again"));
        }
      })
      .catch((error: unknown) =>
        this.options.logger.error(
          { event: "connection.signin_check_failed", ...this.log, err: error },
          "sign-in check failed",
        ),
      );
  }

  /** Applies the user's current entitlements (re-authorisation); see `SubscriptionOptions.reauthorizer`. */
  reauthorize(entitlements: Entitlements | null): void {
    // A check still in flight when the stream ended must not subscribe again.
    if (this.state === "closed") return;
    const expiresAt = this.options.expiresAt;
    if (!entitlements || (expiresAt != null && expiresAt <= Date.now())) {
      this.close("revoked", new SubscriptionRevokedError("the session is no longer valid; sign in again"));
      return;
    }
    this.recheckSignIn();
    if (sameEntitlements(this.identity, entitlements)) return;
    const next: ResolvedSubscriber = {
      ...this.identity,
      userName: entitlements.userName,
      organizationIds: entitlements.organizationIds,
      metadata: entitlements.metadata,
    };
    // Subscribe with the new entitlements before dropping the old ones: an
    // event caught by both is dropped by the cursor check.
    const previous = this.unsubscribe;
    this.unsubscribe = this.subscribeAs(next);
    previous();
    this.identity = next;
    this.options.registry.updateOrganizations(this.connection, next.organizationIds);
    this.settle(this.options.presence.update(this.connectionId, next.organizationIds), "update");
    this.options.logger.info(
      { event: "connection.reauthorized", ...this.log, organizationIds: next.organizationIds },
      "subscription entitlements changed",
    );
  }
}
