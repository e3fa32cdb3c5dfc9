/**
 * The connection registry: every open subscription with who holds it, since
 * when, and how many events it was sent. It enforces the connection limits,
 * answers stats and presence, and tells listeners when a user comes online in
 * an organisation or leaves it.
 */
import { randomUUID } from "node:crypto";

import { ConnectionLimitError } from "./errors";

export interface ConnectionPrincipal {
  userId: string;
  userName: string | null;
  sessionId: string;
  organizationIds: readonly string[];
}

export interface ConnectionRecord extends ConnectionPrincipal {
  organizationIds: readonly string[];
  readonly connectionId: string;
  readonly connectedAt: number;
  eventsSent: number;
  lastEventAt: number | null;
}

export interface RegistryLimits {
  maxConnections: number;
  maxConnectionsPerUser: number;
}

export interface PresenceChange {
  organizationId: string;
  userId: string;
  userName: string | null;
  online: boolean;
}

export interface ConnectionStats {
  totalConnections: number;
  /** Open connections per user id. */
  clientsByUser: Record<string, number>;
  /** Mean age of open connections and, once any closed, of closed ones (ms). */
  averageConnectionDurationMs: number;
  eventsSent: number;
  lastEventAt: string | null;
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsRejected: number;
}

export interface OnlineMember {
  userId: string;
  name: string | null;
  connections: number;
  onlineSince: string;
}

export class ConnectionRegistry {
  private readonly connections = new Map<string, ConnectionRecord>();
  private readonly byUser = new Map<string, Set<ConnectionRecord>>();
  private eventsSent = 0;
  private lastEventAt: number | null = null;
  private opened = 0;
  private closed = 0;
  private rejected = 0;
  private closedDurationTotal = 0;

  constructor(
    private readonly limits: RegistryLimits,
    private readonly onPresenceChange: (change: PresenceChange) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.connections.size;
  }

  /** Throws ConnectionLimitError when `userId` may not open another subscription now. */
  assertCanOpen(userId: string): void {
    if (this.connections.size >= this.limits.maxConnections) {
      this.rejected++;
      throw new ConnectionLimitError(
        `the server has reached its limit of ${this.limits.maxConnections} open subscriptions; retry later`,
      );
    }
    if ((this.byUser.get(userId)?.size ?? 0) >= this.limits.maxConnectionsPerUser) {
      this.rejected++;
      throw new ConnectionLimitError(
        `you already have ${this.limits.maxConnectionsPerUser} open subscriptions (the per-user limit); close a tab or retry later`,
      );
    }
  }

  /** Registers a connection, or throws ConnectionLimitError. */
  open(principal: ConnectionPrincipal): ConnectionRecord {
    this.assertCanOpen(principal.userId);
    const userConnections = this.byUser.get(principal.userId);
    const record: ConnectionRecord = {
      ...principal,
      organizationIds: [...principal.organizationIds],
      connectionId: randomUUID(),
      connectedAt: this.now(),
      eventsSent: 0,
      lastEventAt: null,
    };
    const wasOnline = new Set(this.organizationsOnline(principal.userId));
    this.connections.set(record.connectionId, record);
    if (userConnections) userConnections.add(record);
    else this.byUser.set(principal.userId, new Set([record]));
    this.opened++;
    for (const organizationId of record.organizationIds) {
      if (!wasOnline.has(organizationId)) {
        this.onPresenceChange({ organizationId, userId: record.userId, userName: record.userName, online: true });
      }
    }
    return record;
  }

  /** Idempotent. Frees everything the connection held. */
  close(connectionId: string): ConnectionRecord | undefined {
    const record = this.connections.get(connectionId);
    if (!record) return undefined;
    this.connections.delete(connectionId);
    const userConnections = this.byUser.get(record.userId);
    userConnections?.delete(record);
    if (userConnections?.size === 0) this.byUser.delete(record.userId);
    this.closed++;
    this.closedDurationTotal += this.now() - record.connectedAt;
    const stillOnline = new Set(this.organizationsOnline(record.userId));
    for (const organizationId of record.organizationIds) {
      if (!stillOnline.has(organizationId)) {
        this.onPresenceChange({ organizationId, userId: record.userId, userName: record.userName, online: false });
      }
    }
    return record;
  }

  /** A connection's organisations changed (re-authorisation); announces presence transitions. */
  updateOrganizations(connectionId: string, organizationIds: readonly string[]): void {
    const record = this.connections.get(connectionId);
    if (!record) return;
    const before = new Set(this.organizationsOnline(record.userId));
    record.organizationIds = [...organizationIds];
    const after = new Set(this.organizationsOnline(record.userId));
    for (const organizationId of before) {
      if (!after.has(organizationId)) {
        this.onPresenceChange({ organizationId, userId: record.userId, userName: record.userName, online: false });
      }
    }
    for (const organizationId of after) {
      if (!before.has(organizationId)) {
        this.onPresenceChange({ organizationId, userId: record.userId, userName: record.userName, online: true });
      }
    }
  }

  recordSent(connectionId: string): void {
    const record = this.connections.get(connectionId);
    const at = this.now();
    if (record) {
      record.eventsSent++;
      record.lastEventAt = at;
    }
    this.eventsSent++;
    this.lastEventAt = at;
  }

  get(connectionId: string): ConnectionRecord | undefined {
    return this.connections.get(connectionId);
  }

  list(filter?: { userId?: string; organizationId?: string }): ConnectionRecord[] {
    const source = filter?.userId ? (this.byUser.get(filter.userId) ?? []) : this.connections.values();
    const out: ConnectionRecord[] = [];
    for (const record of source) {
      if (filter?.organizationId && !record.organizationIds.includes(filter.organizationId)) continue;
      out.push(record);
    }
    return out;
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
      averageConnectionDurationMs: samples
        ? Math.round((openDurationTotal + this.closedDurationTotal) / samples)
        : 0,
      eventsSent: this.eventsSent,
      lastEventAt: this.lastEventAt === null ? null : new Date(this.lastEventAt).toISOString(),
      connectionsOpened: this.opened,
      connectionsClosed: this.closed,
      connectionsRejected: this.rejected,
    };
  }

  /** Members of `organizationId` with at least one open subscription. */
  presence(organizationId: string): OnlineMember[] {
    const members = new Map<string, OnlineMember>();
    for (const record of this.connections.values()) {
      if (!record.organizationIds.includes(organizationId)) continue;
      const since = new Date(record.connectedAt).toISOString();
      const member = members.get(record.userId);
      if (member) {
        member.connections++;
        if (since < member.onlineSince) member.onlineSince = since;
      } else {
        members.set(record.userId, { userId: record.userId, name: record.userName, connections: 1, onlineSince: since });
      }
    }
    return [...members.values()].sort((a, b) => a.onlineSince.localeCompare(b.onlineSince));
  }

  private *organizationsOnline(userId: string): Generator<string> {
    for (const record of this.byUser.get(userId) ?? []) yield* record.organizationIds;
  }
}
