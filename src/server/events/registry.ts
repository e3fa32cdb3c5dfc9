/**
 * This process's open subscriptions: the limits on opening one, and the
 * counters behind `events.stats` and `events.connections`. Presence (who is
 * online) is a separate concern (presence.ts), fed by the subscription.
 */
import { randomUUID } from "node:crypto";

import { ConnectionLimitError } from "./errors";
import type { ResolvedSubscriber } from "./identity";
import type { GapReason } from "./replay-log";
import { TenantCountersByOrganization, type TenantCounters } from "./tenant-counters";

export interface ConnectionRecord {
  readonly connectionId: string;
  readonly userId: string;
  readonly userName: string | null;
  readonly sessionId: string;
  /** The sign-in this connection belongs to (all its tabs). */
  readonly signInSessionId: string;
  /** Shared by every tab of the sign-in. */
  readonly allTabs: boolean;
  organizationIds: readonly string[];
  readonly connectedAt: number;
  eventsSent: number;
  lastEventAt: number | null;
  /** Where its subscription is: catching up from the log, live, or fallen behind (catching up once drained). */
  state: "opening" | "replaying" | "live" | "behind";
  /** The counters of its organisations, where its writes, resumes and disconnects are counted. */
  tenants: readonly TenantCounters[];
}

export interface RegistryLimits {
  maxConnections: number;
  maxConnectionsPerUser: number;
  /** Open streams of all members of one organisation together, so no tenant can take the whole server. */
  maxConnectionsPerOrganization: number;
}

export interface ConnectionStats {
  totalConnections: number;
  /** Open connections per user id. */
  clientsByUser: Record<string, number>;
  /** Open connections per organisation id. */
  clientsByOrganization: Record<string, number>;
  /** Mean age of open connections and, once any closed, of closed ones (ms). */
  averageConnectionDurationMs: number;
  eventsSent: number;
  lastEventAt: string | null;
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsRejected: number;
  /** Subscriptions that resumed from a cursor and got their missed events (possibly none). */
  resumes: number;
  /** Events those resumes replayed. */
  eventsReplayed: number;
  /** Resumes answered with `system.gap`, by reason. */
  gaps: Record<GapReason, number>;
}

/** Ends a connection: `revoked` when its sign-in is over, else it may reconnect at once. */
export type Ender = (reason: string, revoked: boolean) => void;

export class ConnectionRegistry {
  private readonly connections = new Map<string, ConnectionRecord>();
  private readonly byUser = new Map<string, Set<ConnectionRecord>>();
  private readonly byOrganization = new Map<string, number>();
  private readonly enders = new Map<string, Ender>();
  private eventsSent = 0;
  private lastEventAt: number | null = null;
  private opened = 0;
  private closed = 0;
  private rejected = 0;
  private closedDurationTotal = 0;
  private resumes = 0;
  private eventsReplayed = 0;
  private readonly gaps: Record<GapReason, number> = { retention_exceeded: 0, unknown_cursor: 0 };

  constructor(
    private readonly limits: RegistryLimits,
    private readonly now: () => number = Date.now,
    /** Per-organisation counters (shared with the bus, which counts emits there). */
    readonly tenants: TenantCountersByOrganization = new TenantCountersByOrganization(),
  ) {}

  get size(): number {
    return this.connections.size;
  }

  /**
   * Registers a connection, or throws ConnectionLimitError when a limit is
   * reached. `end` closes it when its session is revoked.
   */
  open(subscriber: ResolvedSubscriber, end: Ender = () => {}): ConnectionRecord {
    if (this.connections.size >= this.limits.maxConnections) {
      this.rejected++;
      throw new ConnectionLimitError(
        `the server has reached its limit of ${this.limits.maxConnections} open subscriptions; retry later`,
      );
    }
    const userConnections = this.byUser.get(subscriber.userId);
    if ((userConnections?.size ?? 0) >= this.limits.maxConnectionsPerUser) {
      this.rejected++;
      throw new ConnectionLimitError(
        `you already have ${this.limits.maxConnectionsPerUser} open subscriptions (the per-user limit); close a tab or retry later`,
      );
    }
    const full = subscriber.organizationIds.find(
      (id) => (this.byOrganization.get(id) ?? 0) >= this.limits.maxConnectionsPerOrganization,
    );
    if (full !== undefined) {
      this.rejected++;
      throw new ConnectionLimitError(
        `your organisation already has ${this.limits.maxConnectionsPerOrganization} open subscriptions (the per-organisation limit); retry later`,
      );
    }
    const record: ConnectionRecord = {
      connectionId: randomUUID(),
      userId: subscriber.userId,
      userName: subscriber.userName,
      sessionId: subscriber.sessionId,
      signInSessionId: subscriber.signInSessionId,
      allTabs: subscriber.allTabs === true,
      organizationIds: [...subscriber.organizationIds],
      connectedAt: this.now(),
      eventsSent: 0,
      lastEventAt: null,
      tenants: subscriber.organizationIds.map((id) => this.tenants.of(id)),
      state: "opening",
    };
    this.connections.set(record.connectionId, record);
    this.enders.set(record.connectionId, end);
    if (userConnections) userConnections.add(record);
    else this.byUser.set(subscriber.userId, new Set([record]));
    this.countOrganizations(record.organizationIds, 1);
    this.opened++;
    for (const tenant of record.tenants) tenant.opened++;
    return record;
  }

  /**
   * Frees everything the connection held; idempotent. `rejected` is for a
   * connection refused before it went live (a bad cursor): it then counts as
   * rejected, not as opened and closed.
   */
  close(connectionId: string, outcome: "closed" | "rejected" = "closed"): ConnectionRecord | undefined {
    const record = this.connections.get(connectionId);
    if (!record) return undefined;
    this.connections.delete(connectionId);
    this.enders.delete(connectionId);
    const userConnections = this.byUser.get(record.userId);
    userConnections?.delete(record);
    if (userConnections?.size === 0) this.byUser.delete(record.userId);
    this.countOrganizations(record.organizationIds, -1);
    if (outcome === "rejected") {
      this.opened--;
      for (const tenant of record.tenants) tenant.opened--;
      this.rejected++;
    } else {
      this.closed++;
      this.closedDurationTotal += this.now() - record.connectedAt;
    }
    return record;
  }

  /**
   * A connection's organisations changed (re-authorisation). Joining one is
   * never refused here: the cap applies when a stream opens.
   */
  updateOrganizations(record: ConnectionRecord, organizationIds: readonly string[]): void {
    if (!this.connections.has(record.connectionId)) return;
    this.countOrganizations(record.organizationIds, -1);
    record.organizationIds = [...organizationIds];
    record.tenants = organizationIds.map((id) => this.tenants.of(id));
    this.countOrganizations(record.organizationIds, 1);
  }

  private countOrganizations(organizationIds: readonly string[], delta: 1 | -1): void {
    for (const id of organizationIds) {
      const count = (this.byOrganization.get(id) ?? 0) + delta;
      if (count > 0) this.byOrganization.set(id, count);
      else this.byOrganization.delete(id);
    }
  }

  /** Open connections of an organisation in this process. */
  connectionsIn(organizationId: string): number {
    return this.byOrganization.get(organizationId) ?? 0;
  }

  recordSent(record: ConnectionRecord, count = 1): void {
    const at = this.now();
    record.eventsSent += count;
    record.lastEventAt = at;
    for (const tenant of record.tenants) tenant.written += count;
    this.eventsSent += count;
    this.lastEventAt = at;
  }

  /**
   * Ends this process's connections of a revoked sign-in or user at once,
   * rather than at their next re-authorisation. Returns how many.
   */
  revoke(match: { signInSessionId: string } | { userId: string }, reason: string): number {
    const matching = [...this.connections.values()].filter((record) =>
      "userId" in match ? record.userId === match.userId : record.signInSessionId === match.signInSessionId,
    );
    for (const record of matching) this.enders.get(record.connectionId)?.(reason, true);
    return matching.length;
  }

  /**
   * Ends one connection of this process without ending its sign-in (an
   * administrator's action): its client reconnects and resumes from its last
   * id. Returns the connection's record, or undefined when it is not open here.
   */
  end(connectionId: string, reason: string): ConnectionRecord | undefined {
    const record = this.connections.get(connectionId);
    if (record) this.enders.get(connectionId)?.(reason, false);
    return record;
  }

  /** A resume from a cursor: how many events it replayed, or the gap it got instead. */
  recordResume(record: ConnectionRecord, outcome: { replayed: number } | { gap: GapReason }): void {
    if ("gap" in outcome) {
      this.gaps[outcome.gap]++;
      for (const tenant of record.tenants) tenant.gaps[outcome.gap]++;
    } else {
      this.resumes++;
      this.eventsReplayed += outcome.replayed;
      for (const tenant of record.tenants) {
        tenant.resumes++;
        tenant.replayed += outcome.replayed;
      }
    }
  }

  /** The counters every reader of this process takes as they are (no walk over connections). */
  counters() {
    return {
      open: this.connections.size,
      eventsSent: this.eventsSent,
      opened: this.opened,
      closed: this.closed,
      rejected: this.rejected,
      resumes: this.resumes,
      eventsReplayed: this.eventsReplayed,
      gaps: this.gaps as Readonly<Record<GapReason, number>>,
    };
  }

  get(connectionId: string): ConnectionRecord | undefined {
    return this.connections.get(connectionId);
  }

  list(filter?: { userId?: string }): ConnectionRecord[] {
    return [...(filter?.userId ? (this.byUser.get(filter.userId) ?? []) : this.connections.values())];
  }

  stats(): ConnectionStats {
    const now = this.now();
    const clientsByUser: Record<string, number> = {};
    let openDurationTotal = 0;
    for (const [userId, set] of this.byUser) clientsByUser[userId] = set.size;
    for (const record of this.connections.values()) openDurationTotal += now - record.connectedAt;
    const samples = this.connections.size + this.closed;
    return {
      totalConnections: this.connections.size,
      clientsByUser,
      clientsByOrganization: Object.fromEntries(this.byOrganization),
      averageConnectionDurationMs: samples ? Math.round((openDurationTotal + this.closedDurationTotal) / samples) : 0,
      eventsSent: this.eventsSent,
      lastEventAt: this.lastEventAt === null ? null : new Date(this.lastEventAt).toISOString(),
      connectionsOpened: this.opened,
      connectionsClosed: this.closed,
      connectionsRejected: this.rejected,
      resumes: this.resumes,
      eventsReplayed: this.eventsReplayed,
      gaps: { ...this.gaps },
    };
  }
}
