import { describe, expect, it } from "vitest";

import type { EventEnvelope } from "~/server/events/envelope";
import { InvalidEventIdError } from "~/server/events/errors";
import { EventIdGenerator, compareEventIds, parseEventId } from "~/server/events/event-id";
import { InMemoryReplayLog } from "~/server/events/replay-log";

function setup(options: { maxEvents?: number; maxAgeMs?: number } = {}) {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const ids = new EventIdGenerator(clock);
  const log = new InMemoryReplayLog({
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
  return { log, ids, append, advance: (ms: number) => (now += ms) };
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

  it("reject malformed ids with a typed error", () => {
    for (const bad of ["", "abc", "12", "1-2-3", "-1-0", "1.5-0", "99999999999999999-0"]) {
      expect(() => parseEventId(bad), bad).toThrow(InvalidEventIdError);
    }
  });
});

describe("replay log", () => {
  it("replays exactly the events after a cursor", () => {
    const { log, append } = setup();
    const [e1, e2, e3] = [append("1"), append("2"), append("3")];
    const result = log.readAfter(e1.id);
    expect(result).toMatchObject({ kind: "events", head: e3.id });
    expect(result.kind === "events" && result.events).toEqual([e2, e3]);
    expect(log.readAfter(e3.id)).toMatchObject({ kind: "events", events: [] });
  });

  it("filters what it replays", () => {
    const { log, append, ids } = setup();
    append("1", "acme");
    const globex = append("2", "globex");
    const result = log.readAfter(ids.origin, (e) => e.target.kind === "organization" && e.target.organizationId === "globex");
    expect(result.kind === "events" && result.events).toEqual([globex]);
  });

  it("retention by count: a cursor older than the oldest kept event gets a gap", () => {
    const { log, append } = setup({ maxEvents: 3 });
    const all = Array.from({ length: 6 }, (_, i) => append(String(i)));
    expect(log.size()).toBe(3);
    // all[2] was the last evicted event: after it, nothing is missing.
    expect(log.readAfter(all[2]!.id)).toMatchObject({ kind: "events", events: all.slice(3) });
    expect(log.readAfter(all[1]!.id)).toEqual({
      kind: "gap",
      reason: "retention_exceeded",
      oldestAvailableId: all[3]!.id,
      head: all[5]!.id,
    });
  });

  it("retention by age", () => {
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

  it("a cursor from before this stream began (a restart) is an unknown_cursor gap", () => {
    const { log, append } = setup();
    append("1");
    expect(log.readAfter("1000-0")).toMatchObject({ kind: "gap", reason: "unknown_cursor" });
  });

  it("the origin cursor replays everything", () => {
    const { log, append, ids } = setup();
    const e = append("1");
    expect(log.readAfter(ids.origin)).toMatchObject({ kind: "events", events: [e] });
  });

  it("a cursor ahead of the stream, or malformed, is refused", () => {
    const { log, append } = setup();
    const e = append("1");
    const [ms] = e.id.split("-");
    expect(() => log.readAfter(`${Number(ms) + 1}-0`)).toThrow(/ahead of this stream/);
    expect(() => log.readAfter("nonsense")).toThrow(InvalidEventIdError);
  });

  it("stays bounded under sustained load", () => {
    const { log, append } = setup({ maxEvents: 100 });
    let last: EventEnvelope | undefined;
    for (let i = 0; i < 20_000; i++) last = append(String(i));
    expect(log.size()).toBe(100);
    expect(log.head()).toBe(last!.id);
  });
});
