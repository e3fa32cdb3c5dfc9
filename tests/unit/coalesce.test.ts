import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { coalesce } from "~/trpc/coalesce";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("coalesce", () => {
  it("runs the first call at once and a burst after it once, at the end of the interval", () => {
    const run = vi.fn();
    const invalidate = coalesce(run, 1_000);
    invalidate();
    expect(run).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 500; i++) {
      vi.advanceTimersByTime(1);
      invalidate();
    }
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(500);
    expect(run).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(5_000);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it("runs at once again after a quiet interval", () => {
    const run = vi.fn();
    const invalidate = coalesce(run, 1_000);
    invalidate();
    vi.advanceTimersByTime(1_000);
    invalidate();
    expect(run).toHaveBeenCalledTimes(2);
  });

  it("a call during the trailing wait is covered by the trailing run, which comes after it", () => {
    const run = vi.fn();
    const invalidate = coalesce(run, 1_000);
    invalidate();
    vi.advanceTimersByTime(100);
    invalidate(); // schedules the trailing run at 1,000
    vi.advanceTimersByTime(850);
    invalidate(); // already covered: the trailing run is still to come
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(50);
    expect(run).toHaveBeenCalledTimes(2);
  });
});
