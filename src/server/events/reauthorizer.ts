/**
 * Re-authorisation of open subscriptions, for the whole process: one timer,
 * one entitlement lookup per user per interval however many streams the user
 * has open, and users spread over the interval (each starts at a random
 * point in it) rather than all read at the same instant. Session expiry is
 * checked on the first tick after the user's earliest session end (a
 * comparison, no lookup; not a pass over every stream each tick).
 */
import type { Entitlements } from "./identity";
import type { EntitlementCache } from "./entitlement-cache";
import type { EventLayerLogger } from "./logger";

/** An open subscription, as re-authorisation sees it. */
export interface Reauthorizable {
  /** Applies the user's current entitlements (null: the user is gone). */
  reauthorize(entitlements: Entitlements | null): void;
  /** Ends the subscription if its session is past its end; checked once that end is due. */
  checkExpiry(now: number): void;
  /** When the member's session ends (epoch ms), if it does. */
  readonly expiresAt?: number | null;
}

interface UserSchedule {
  members: Set<Reauthorizable>;
  dueAt: number;
  running: boolean;
  /** The earliest end among the members (early after one left: the next check recomputes it). */
  nextExpiry: number;
}

const endOf = (member: Reauthorizable) => member.expiresAt ?? Infinity;

export class Reauthorizer {
  private readonly users = new Map<string, UserSchedule>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly entitlements: EntitlementCache,
    private readonly logger: EventLayerLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Re-authorises `member` every interval, and ends it when its session ends,
   * until the returned function is called. With an interval of 0 only the
   * expiry is checked.
   */
  add(userId: string, member: Reauthorizable): () => void {
    let schedule = this.users.get(userId);
    if (!schedule) {
      const dueAt = this.intervalMs > 0 ? this.now() + Math.random() * this.intervalMs : Infinity;
      schedule = { members: new Set(), dueAt, running: false, nextExpiry: Infinity };
      this.users.set(userId, schedule);
    }
    schedule.members.add(member);
    schedule.nextExpiry = Math.min(schedule.nextExpiry, endOf(member));
    this.timer ??= this.start();
    return () => {
      const current = this.users.get(userId);
      if (!current?.members.delete(member) || current.members.size > 0) return;
      this.users.delete(userId);
      if (this.users.size === 0) this.stop();
    };
  }

  /** Users with at least one subscription under re-authorisation; exposed for leak checks. */
  get userCount(): number {
    return this.users.size;
  }

  private start(): NodeJS.Timeout {
    const tickMs = this.intervalMs > 0 ? Math.min(1_000, Math.max(10, this.intervalMs / 10)) : 1_000;
    const timer = setInterval(() => this.tick(), tickMs);
    timer.unref();
    return timer;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.now();
    for (const [userId, schedule] of this.users) {
      // Sessions end on time, not at the user's next re-authorisation; members are only
      // visited when one of them is due (a user can hold thousands of streams).
      if (schedule.nextExpiry <= now) {
        let next = Infinity;
        for (const member of [...schedule.members]) {
          member.checkExpiry(now);
          if (endOf(member) > now) next = Math.min(next, endOf(member));
        }
        schedule.nextExpiry = next;
      }
      if (schedule.running || schedule.dueAt > now || schedule.members.size === 0) continue;
      schedule.running = true;
      schedule.dueAt = now + this.intervalMs;
      this.entitlements
        .refresh(userId)
        .then((entitlements) => {
          for (const member of [...schedule.members]) member.reauthorize(entitlements);
        })
        .catch((error: unknown) =>
          this.logger.error({ event: "connection.reauthorize_failed", userId, err: error }, "re-authorisation failed"),
        )
        .finally(() => {
          schedule.running = false;
        });
    }
  }
}
