/**
 * Turns presence transitions into events for the organisation's members.
 *
 * One transition is one `presence.changed`, which is right while members come
 * and go one at a time. In a burst it is not: when every member reconnects at
 * once (after a deploy), one event per transition, each delivered to every
 * member online, costs members² deliveries and a durable write per member.
 * So presence gets a delivery budget per organisation and second: with M
 * connections of the organisation open here, `deliveriesPerSecond / M`
 * individual events (at least one). The transitions past that are folded into
 * one `presence.many_changed` at the end of the one-second window, which
 * tells clients to read the list again (`events.presence`).
 */
import type { EventBus } from "./bus";
import type { EventPayload } from "./catalog";
import type { EventLayerLogger } from "./logger";
import type { PresenceChange } from "./presence";

const WINDOW_MS = 1_000;

interface OrganizationWindow {
  announced: number;
  folded: number;
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

  /** Announces one transition, or folds it into the window's summary. */
  announce(change: PresenceChange): void {
    const { organizationId } = change;
    let window = this.windows.get(organizationId);
    if (!window) {
      window = { announced: 0, folded: 0 };
      this.windows.set(organizationId, window);
      this.timer ??= setTimeout(() => this.flush(), WINDOW_MS).unref();
    }
    if (this.deliveriesPerSecond > 0 && window.announced >= this.eventsAllowed(organizationId)) {
      window.folded += 1;
      return;
    }
    window.announced += 1;
    this.emit(
      "presence.changed",
      { organizationId, userId: change.userId, name: change.userName, online: change.online },
      organizationId,
    );
  }

  private eventsAllowed(organizationId: string): number {
    return Math.max(1, Math.floor(this.deliveriesPerSecond / Math.max(1, this.audienceOf(organizationId))));
  }

  /** Ends the window: one summary per organisation that had transitions folded. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ended = this.windows;
    this.windows = new Map();
    for (const [organizationId, { folded }] of ended) {
      if (folded > 0) this.emit("presence.many_changed", { organizationId, changes: folded }, organizationId);
    }
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
