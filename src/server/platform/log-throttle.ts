/**
 * Expected failures (a bad cookie, a bad signature, a refused request) are
 * logged at most once per key per interval, with how many were left out, so
 * nobody can flood the logs by sending garbage.
 */
import { runtime } from "~/server/runtime";

export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 1_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns how many were suppressed since the last line when this one should be logged, or null. */
  take(key: string): { suppressed: number } | null {
    const now = this.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return null;
    }
    this.last.delete(key);
    this.last.set(key, { at: now, suppressed: 0 });
    if (this.last.size > this.maxKeys) this.last.delete(this.last.keys().next().value!);
    return { suppressed: entry?.suppressed ?? 0 };
  }
}

/** The process's throttle for expected-failure lines (the runtime's). */
export const expectedFailures = { take: (key: string) => runtime().expectedFailures.take(key) };
