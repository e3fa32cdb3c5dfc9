/** Presence for one process: every connection that counts is in this memory. */
import type { OnlineMember, Presence, PresenceListener, PresenceMember } from "./presence";

interface PresenceEntry extends PresenceMember {
  organizationIds: readonly string[];
  since: number;
}

export class MemoryPresence implements Presence {
  private readonly connections = new Map<string, PresenceEntry>();
  /** Per user: how many of their connections belong to each organisation (cost per change: organisations, not connections). */
  private readonly counts = new Map<string, Map<string, number>>();

  constructor(
    private readonly onChange: PresenceListener = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  join(connectionId: string, member: PresenceMember, organizationIds: readonly string[]): void {
    if (this.connections.has(connectionId)) return;
    const entry: PresenceEntry = { ...member, organizationIds: [...new Set(organizationIds)], since: this.now() };
    this.connections.set(connectionId, entry);
    this.count(entry, entry.organizationIds, +1);
  }

  update(connectionId: string, organizationIds: readonly string[]): void {
    const entry = this.connections.get(connectionId);
    if (!entry) return;
    const next = [...new Set(organizationIds)];
    // Enter the new organisations before leaving the old ones, so a move never reads as offline-then-online.
    this.count(entry, next, +1);
    this.count(entry, entry.organizationIds, -1);
    entry.organizationIds = next;
  }

  leave(connectionId: string): void {
    const entry = this.connections.get(connectionId);
    if (!entry) return;
    this.connections.delete(connectionId);
    this.count(entry, entry.organizationIds, -1);
  }

  online(organizationId: string): OnlineMember[] {
    const members = new Map<string, OnlineMember & { sinceMs: number }>();
    for (const entry of this.connections.values()) {
      if (!entry.organizationIds.includes(organizationId)) continue;
      const member = members.get(entry.userId);
      if (member) {
        member.connections++;
        member.sinceMs = Math.min(member.sinceMs, entry.since);
      } else {
        members.set(entry.userId, {
          userId: entry.userId,
          name: entry.userName,
          connections: 1,
          onlineSince: "",
          sinceMs: entry.since,
        });
      }
    }
    return [...members.values()]
      .sort((a, b) => a.sinceMs - b.sinceMs)
      .map(({ sinceMs, ...member }) => ({ ...member, onlineSince: new Date(sinceMs).toISOString() }));
  }

  /** Connections tracked; exposed for leak checks. */
  get size(): number {
    return this.connections.size;
  }

  /** Adds `delta` to the member's count in each organisation and announces each 0 ⇄ 1 crossing. */
  private count(member: PresenceMember, organizationIds: readonly string[], delta: 1 | -1): void {
    let perOrganization = this.counts.get(member.userId);
    if (!perOrganization) this.counts.set(member.userId, (perOrganization = new Map<string, number>()));
    for (const organizationId of organizationIds) {
      const before = perOrganization.get(organizationId) ?? 0;
      const after = before + delta;
      if (after === 0) perOrganization.delete(organizationId);
      else perOrganization.set(organizationId, after);
      if (before === 0 || after === 0) {
        this.onChange({ organizationId, userId: member.userId, userName: member.userName, online: after > 0 });
      }
    }
    if (perOrganization.size === 0) this.counts.delete(member.userId);
  }
}
