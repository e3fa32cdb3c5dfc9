import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { backoffDelay, backoffEventSource } from "~/trpc/backoff-event-source";

/** Stands in for the browser's EventSource: records each connection; the test opens and fails them. */
class FakeSource extends EventTarget {
  static made: FakeSource[] = [];
  closed = false;
  constructor(readonly url: string) {
    super();
    FakeSource.made.push(this);
  }
  close() {
    this.closed = true;
  }
  message(type: string, data: string, lastEventId = "") {
    this.dispatchEvent(new MessageEvent(type, { data, lastEventId }));
  }
}

/** The class under test over FakeSource: windows of 100 ms doubling up to 1 s, each delay the top of its window. */
function openSource() {
  const Source = backoffEventSource({
    baseMs: 100,
    capMs: 1_000,
    random: () => 0.999,
    EventSource: FakeSource as unknown as typeof EventSource,
  });
  return new Source("http://app.test/api/trpc/events.onEvent?input=x");
}

describe("reconnects with exponential backoff and full jitter", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSource.made = [];
  });
  afterEach(() => vi.useRealTimers());

  it("draws each delay uniformly below an exponential window, capped", () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, 500, 5_000, () => 0.999))).toEqual([
      499, 999, 1998, 3996, 4995, 4995,
    ]);
    expect(backoffDelay(3, 500, 5_000, () => 0)).toBe(0);
  });

  it("waits longer after each failure in a row, resets once open, resumes from the last id, and stops when closed", () => {
    const es = openSource();
    const received: string[] = [];
    es.addEventListener("message", (e) => received.push((e as MessageEvent<string>).data));
    const states: string[] = [];
    es.addEventListener("error", () => states.push(`error:${es.readyState}`));

    FakeSource.made[0]!.dispatchEvent(new Event("open"));
    FakeSource.made[0]!.message("message", "a", "1-1");
    expect(received).toEqual(["a"]);

    const failAndCount = (delayMs: number) => {
      const current = FakeSource.made.at(-1)!;
      current.dispatchEvent(new Event("error"));
      expect(current.closed).toBe(true); // the browser's own retry is stopped
      const before = FakeSource.made.length;
      vi.advanceTimersByTime(delayMs - 1);
      expect(FakeSource.made.length).toBe(before);
      vi.advanceTimersByTime(1);
      expect(FakeSource.made.length).toBe(before + 1);
    };
    failAndCount(99);
    failAndCount(199);
    failAndCount(399);
    expect(FakeSource.made.at(-1)!.url).toContain("lastEventId=1-1");
    FakeSource.made.at(-1)!.dispatchEvent(new Event("open"));
    FakeSource.made.at(-1)!.message("message", "b", "1-2");
    expect(received).toEqual(["a", "b"]);
    failAndCount(99); // open reset the count
    expect(FakeSource.made.at(-1)!.url).toContain("lastEventId=1-2");
    expect(states.every((s) => s === "error:0")).toBe(true); // connecting, never closed: tRPC keeps waiting

    es.close();
    FakeSource.made.at(-1)!.dispatchEvent(new Event("error"));
    vi.advanceTimersByTime(10_000);
    expect(FakeSource.made).toHaveLength(5); // no new connection after close
  });

  it("comes back when a draining server says, once; a hint out of bounds or malformed leaves the backoff", () => {
    const es = openSource();
    const reconnectsAfter = (hint: string | null) => {
      const current = FakeSource.made.at(-1)!;
      current.dispatchEvent(new Event("open"));
      if (hint !== null) current.message("reconnect", hint);
      current.dispatchEvent(new Event("error"));
      const before = FakeSource.made.length;
      let waited = 0;
      while (FakeSource.made.length === before && waited < 200_000) {
        vi.advanceTimersByTime(1);
        waited++;
      }
      return waited;
    };

    expect(reconnectsAfter('{"afterMs":2500}')).toBe(2_500);
    expect(reconnectsAfter(null)).toBe(99); // the hint was for one reconnect only
    expect(reconnectsAfter('{"afterMs":0}')).toBe(1); // a timer of 0 runs on the next tick
    for (const bad of [
      '{"afterMs":-5}',
      '{"afterMs":86400000}',
      '{"afterMs":"5"}',
      "not json",
      "null",
      "x".repeat(200),
    ]) {
      expect(reconnectsAfter(bad)).toBe(99);
    }
    es.close();
  });
});
