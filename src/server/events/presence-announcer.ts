/**
 * Turns presence transitions into events for the organisation's members.
 *
 * Presence is state: what a member needs is who is online, not every
 * transition. So transitions are coalesced per organisation over a window of
 * a second:
 * - the first transition of a quiet organisation is announced at once;
 * - the rest of the window's transitions are announced when it ends, one per
 *   member whose state differs from what was last announced. A member who
 *   leaves and comes back within the window (a reconnect, a tab reloaded) is
 *   not announced at all, however often it happens: at most two announcements
 *   per member and second, whatever the member does.
 * - With M connections of the organisation open here, a window announces at
 *   most `deliveriesPerSecond / M` members individually (at least one); the
 *   others are folded into one `presence.many_changed`, which tells clients
 *   to read the list again (`events.presence`).
 *
 * The events are not replayed (the catalog marks them `replayed: false`), so
 * however busy presence is, it takes no place in any history.
 */
import type { EventBus } from "./bus";
import type { EventPayload } from "./catalog";
import type { EventLayerLogger } from "./logger";
import type { PresenceChange } from "./presence";

const WINDOW_MS = 1_000;

interface MemberState {
  name: string | null;
  /** What the organisation's members were last told. */
  announced: boolean;
  online: boolean;
}

interface OrganizationWindow {
  members: Map<string, MemberState>;
  /** Announcements made in this window. */
  announced: number;
}

export class PresenceAnnouncer {
  private windows = new Map<string, OrganizationWindow>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param deliveriesPerSecond presence deliveries per organisation and second; 0 = no limit.
   * @param audienceOf connections of an organisation open in this process.
   */
  constructor(
    private readonly bus: EventBus,
    private readonly deliveriesPerSecond: number,
    private readonly audienceOf: (organizationId: string) => number,
    private readonly logger: EventLayerLogger,
  ) {}

  /** Records one transition: announced now in a quiet organisation, else when the window ends. */
  announce(change: PresenceChange): void {
    const { organizationId, userId } = change;
    let window = this.windows.get(organizationId);
    if (!window) {
      window = { members: new Map(), announced: 0 };
      this.windows.set(organizationId, window);
      this.timer ??= setTimeout(() => this.flush(), WINDOW_MS).unref();
      window.members.set(userId, { name: change.userName, announced: change.online, online: change.online });
      window.announced++;
      this.emitChanged(organizationId, userId, change.userName, change.online);
      return;
    }
    const member = window.members.get(userId);
    if (member) {
      member.online = change.online;
      member.name = change.userName;
    } else {
      window.members.set(userId, { name: change.userName, announced: !change.online, online: change.online });
    }
  }

  private eventsAllowed(organizationId: string): number {
    if (this.deliveriesPerSecond <= 0) return Number.POSITIVE_INFINITY;
    return Math.max(1, Math.floor(this.deliveriesPerSecond / Math.max(1, this.audienceOf(organizationId))));
  }

  /** Ends the window: the members whose state changed since they were last announced, or a summary. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ended = this.windows;
    this.windows = new Map();
    for (const [organizationId, window] of ended) {
      const changed = [...window.members].filter(([, member]) => member.online !== member.announced);
      const individually = Math.max(0, this.eventsAllowed(organizationId) - window.announced);
      for (const [userId, member] of changed.slice(0, individually)) {
        this.emitChanged(organizationId, userId, member.name, member.online);
      }
      const folded = changed.length - Math.min(changed.length, individually);
      if (folded > 0) this.emit("presence.many_changed", { organizationId, changes: folded }, organizationId);
    }
  }

  private emitChanged(organizationId: string, userId: string, name: string | null, online: boolean): void {
    this.emit("presence.changed", { organizationId, userId, name, online }, organizationId);
  }

  private emit<N extends "presence.changed" | "presence.many_changed">(
    name: N,
    payload: EventPayload<N>,
    organizationId: string,
  ): void {
    this.bus
      .emit(name, payload, { kind: "organization", organizationId })
      .catch((error: unknown) => this.logger.error({ event: "presence.failed", err: error }, "presence event failed"));
  }
}
