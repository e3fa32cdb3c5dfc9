import { describe, expect, it } from "vitest";

import { InvalidEventIdError, type EventEnvelope } from "~/server/events";
import {
  EventIdGenerator,
  assertCursorWithin,
  bareEventId,
  compareEventIds,
  epochOf,
  isAfter,
  parseEventId,
  sameEpoch,
} from "~/server/events/event-id";
import { MemoryReplayLog } from "~/server/events/replay-log-memory";

function setup(options: { maxEvents?: number; maxAgeMs?: number } = {}) {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const ids = new EventIdGenerator(clock);
  const log = new MemoryReplayLog({
    maxEvents: options.maxEvents ?? 5,
    maxAgeMs: options.maxAgeMs ?? 60_000,
    ids,
    now: clock,
  });
  const append = (orderId: string, organizationId = "acme"): EventEnvelope =>
    log.append({
      name: "payment.failed",
      version: 1,
      data: { orderId, errorCode: "x" },
      emittedAt: new Date(now).toISOString(),
      target: { kind: "organization", organizationId },
    });
  return { log, append, advance: (ms: number) => (now += ms) };
}

describe("event ids", () => {
  it("are ordered by time then sequence and survive a clock that steps back", () => {
    let now = 1000;
    const ids = new EventIdGenerator(() => now);
    const a = ids.next();
    const b = ids.next();
    now = 900; // clock stepped backwards
    const c = ids.next();
    now = 2000;
    const d = ids.next();
    expect([a, b, c, d]).toEqual(["1000-1", "1000-2", "1000-3", "2000-0"]);
    expect(compareEventIds(ids.origin, a)).toBeLessThan(0);
  });

  it("carry an optional epoch: ordered within it, and a new epoch counts as after any cursor of another", () => {
    expect(parseEventId("1700000000000-3.k2x9")).toEqual({ ms: 1700000000000, seq: 3, epoch: "k2x9" });
    expect(parseEventId("5-0")).toEqual({ ms: 5, seq: 0, epoch: "" });
    expect(compareEventIds("5-2.ab", "5-10.ab")).toBeLessThan(0);
    expect(compareEventIds("6-0.ab", "5-10.ab")).toBeGreaterThan(0);
    expect(epochOf("5-2.ab")).toBe("ab");
    expect(bareEventId("5-2.ab")).toBe("5-2");
    expect(sameEpoch("5-2.ab", "9-0.ab")).toBe(true);
    expect(sameEpoch("5-2.ab", "5-2")).toBe(false);
    expect(isAfter("5-3.ab", "5-2.ab")).toBe(true);
    expect(isAfter("5-2.ab", "5-2.ab")).toBe(false);
    expect(isAfter("1-0.cd", "5-2.ab")).toBe(true); // a new log's first ids may be lower
    expect(isAfter("1-0", null)).toBe(true);
    // A cursor of another epoch is never "ahead" of this log: the log answers it with a gap.
    expect(() => assertCursorWithin("99-0.ab", "5-0.cd")).not.toThrow();
    expect(() => assertCursorWithin("99-0.cd", "5-0.cd")).toThrow(InvalidEventIdError);
  });

  it("reject malformed ids with a typed error", () => {
    for (const bad of ["", "abc", "12", "1-2-3", "-1-0", "1.5-0", "99999999999999999-0", "1-0.", "1-0.AB", "1-0.a-b"]) {
      expect(() => parseEventId(bad), bad).toThrow(InvalidEventIdError);
    }
  });
});

describe("memory replay log", () => {
  it("retention by age follows its clock, evicting on access", () => {
    const { log, append, advance } = setup({ maxEvents: 100, maxAgeMs: 1_000 });
    const old = append("old");
    advance(600);
    const recent = append("recent");
    advance(600); // `old` is now 1.2 s old
    expect(log.readAfter(old.id)).toMatchObject({ kind: "events", events: [recent] });
    expect(log.size()).toBe(1);
    advance(1_000);
    expect(log.size()).toBe(1); // eviction happens on access
    expect(log.readAfter(old.id)).toMatchObject({ kind: "gap", reason: "retention_exceeded", oldestAvailableId: null });
    expect(log.size()).toBe(0);
  });

  it("stays bounded under sustained load", () => {
    const { log, append } = setup({ maxEvents: 100 });
    let last: EventEnvelope | undefined;
    for (let i = 0; i < 20_000; i++) last = append(String(i));
    expect(log.size()).toBe(100);
    expect(log.head()).toBe(last!.id);
  });
});
