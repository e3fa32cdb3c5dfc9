/** Presence for one process: every connection that counts is in this memory. */
import type { OnlineMember, Presence, PresenceListener, PresenceMember } from "./presence";

interface PresenceEntry extends PresenceMember {
  organizationIds: readonly string[];
  since: number;
}

export class MemoryPresence implements Presence {
  private readonly connections = new Map<string, PresenceEntry>();
  private readonly byUser = new Map<string, Set<PresenceEntry>>();

  constructor(
    private readonly onChange: PresenceListener = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  join(connectionId: string, member: PresenceMember, organizationIds: readonly string[]): void {
    if (this.connections.has(connectionId)) return;
    const entry: PresenceEntry = { ...member, organizationIds: [...organizationIds], since: this.now() };
    this.transition(member, () => {
      this.connections.set(connectionId, entry);
      let set = this.byUser.get(member.userId);
      if (!set) this.byUser.set(member.userId, (set = new Set()));
      set.add(entry);
    });
  }

  update(connectionId: string, organizationIds: readonly string[]): void {
    const entry = this.connections.get(connectionId);
    if (!entry) return;
    this.transition(entry, () => {
      entry.organizationIds = [...organizationIds];
    });
  }

  leave(connectionId: string): void {
    const entry = this.connections.get(connectionId);
    if (!entry) return;
    this.transition(entry, () => {
      this.connections.delete(connectionId);
      const set = this.byUser.get(entry.userId);
      set?.delete(entry);
      if (set?.size === 0) this.byUser.delete(entry.userId);
    });
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

  /** Runs `change` and announces every organisation the member entered or left. */
  private transition(member: PresenceMember, change: () => void): void {
    const before = this.organizationsOf(member.userId);
    change();
    const after = this.organizationsOf(member.userId);
    for (const organizationId of before) {
      if (!after.has(organizationId))
        this.onChange({ organizationId, userId: member.userId, userName: member.userName, online: false });
    }
    for (const organizationId of after) {
      if (!before.has(organizationId))
        this.onChange({ organizationId, userId: member.userId, userName: member.userName, online: true });
    }
  }

  private organizationsOf(userId: string): Set<string> {
    const out = new Set<string>();
    for (const entry of this.byUser.get(userId) ?? []) for (const id of entry.organizationIds) out.add(id);
    return out;
  }
}
