/**
 * What every ReplayLog implementation must do (the contract in
 * src/server/events/replay-log.ts). Run it with a factory; nothing here
 * assumes `append` or `readAfter` is synchronous.
 */
import { describe, expect, it } from "vitest";

import type { EventEnvelope } from "~/server/events";
import { InvalidEventIdError } from "~/server/events";
import { bareEventId, compareEventIds, epochOf } from "~/server/events/event-id";
import type { ReplayLog, ReplayLogRetention } from "~/server/events/replay-log";
import { sleep } from "../helpers/wait";

export type ReplayLogFactory = (retention: ReplayLogRetention) => Promise<ReplayLog>;

export function replayLogConformance(name: string, create: ReplayLogFactory) {
  describe(`ReplayLog conformance: ${name}`, () => {
    const setup = async (retention: Partial<ReplayLogRetention> = {}) => {
      const log = await create({
        maxEvents: retention.maxEvents ?? 5,
        maxAgeMs: retention.maxAgeMs ?? 60_000,
        maxTotalEvents: retention.maxTotalEvents,
      });
      const origin = await log.head();
      const append = (orderId: string, organizationId = "acme"): Promise<EventEnvelope> =>
        Promise.resolve(
          log.append({
            name: "payment.failed",
            version: 1,
            data: { orderId, errorCode: "x" },
            emittedAt: new Date().toISOString(),
            target: { kind: "organization", organizationId },
          }),
        );
      return { log, origin, append };
    };

    it("stamps strictly increasing ids in append order, also for concurrent appends", async () => {
      const { log, append } = await setup({ maxEvents: 100 });
      const sequential = [await append("1"), await append("2")];
      const concurrent = await Promise.all(Array.from({ length: 20 }, (_, i) => append(`c${i}`)));
      const ids = [...sequential, ...concurrent].map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(compareEventIds(ids[0]!, ids[1]!)).toBeLessThan(0);
      const sorted = [...ids].sort(compareEventIds);
      const replay = await log.readAfter(sequential[1]!.id);
      expect(replay.kind === "events" && replay.events.map((e) => e.id)).toEqual(sorted.slice(2));
      expect(await log.head()).toBe(sorted.at(-1));
    });

    it("appendOnce records a key's event once: a repeat returns the first envelope and appends nothing", async () => {
      const { log, origin, append } = await setup();
      const draft = {
        name: "payment.failed" as const,
        version: 1,
        data: { orderId: "once", errorCode: "x" },
        emittedAt: new Date().toISOString(),
        target: { kind: "organization" as const, organizationId: "acme" },
      };
      const first = await log.appendOnce(draft, "outbox:1");
      expect(first.repeated).toBe(false);
      const between = await append("between");
      const again = await log.appendOnce(draft, "outbox:1");
      expect(again).toEqual({ envelope: first.envelope, repeated: true });
      const other = await log.appendOnce(draft, "outbox:2");
      expect(other.repeated).toBe(false);
      expect(compareEventIds(other.envelope.id, between.id)).toBeGreaterThan(0);
      const replay = await log.readAfter(origin);
      expect(replay.kind === "events" && replay.events.map((e) => e.id)).toEqual([
        first.envelope.id,
        between.id,
        other.envelope.id,
      ]);
    });

    it("replays exactly the events after a cursor, in id order", async () => {
      const { log, append } = await setup();
      const [e1, e2, e3] = [await append("1"), await append("2"), await append("3")];
      expect(await log.readAfter(e1.id)).toMatchObject({ kind: "events", events: [e2, e3], head: e3.id });
      // A client that had everything (most, reconnecting after a deploy).
      expect(await log.readAfter(e3.id)).toMatchObject({ kind: "events", events: [], head: e3.id });
    });

    it("a cursor from another epoch is an unknown cursor, whatever its number (never a skip, never 'ahead')", async () => {
      const { log, append } = await setup();
      const e1 = await append("1");
      await append("2");
      const own = epochOf(e1.id);
      const foreign = own === "zz" ? "yy" : "zz";
      for (const cursor of [`${bareEventId(e1.id)}.${foreign}`, `99999999999999-0.${foreign}`, "1-0.zzz9"]) {
        expect(await log.readAfter(cursor)).toMatchObject({ kind: "gap", reason: "unknown_cursor" });
      }
      if (own !== "") {
        // An epoch-less cursor is not one of this log's either.
        expect(await log.readAfter(bareEventId(e1.id))).toMatchObject({ kind: "gap", reason: "unknown_cursor" });
      }
    });

    it("the stream's origin replays everything retained", async () => {
      const { log, origin, append } = await setup();
      const e = await append("1");
      expect(await log.readAfter(origin)).toMatchObject({ kind: "events", events: [e] });
    });

    it("reads only the reader's audiences, then its filter", async () => {
      const { log, origin, append } = await setup();
      const acme = await append("1", "acme");
      const globex = await append("2", "globex");
      const globexToo = await append("3", "globex");
      expect(await log.readAfter(origin, { audiences: ["org:globex"] })).toMatchObject({
        kind: "events",
        events: [globex, globexToo],
      });
      expect(
        await log.readAfter(origin, { audiences: ["org:acme", "org:globex"], filter: (e) => e.id !== globex.id }),
      ).toMatchObject({ kind: "events", events: [acme, globexToo] });
    });

    it("merges a reader's audiences in id order", async () => {
      const { log, origin, append } = await setup({ maxEvents: 100 });
      const appended: EventEnvelope[] = [];
      for (let i = 0; i < 12; i++) appended.push(await append(String(i), ["acme", "globex", "initech"][i % 3]));
      const result = await log.readAfter(origin, { audiences: ["org:initech", "org:acme", "org:globex"] });
      expect(result.kind === "events" && result.events.map((e) => e.id)).toEqual(appended.map((e) => e.id));
    });

    it("one audience's volume never evicts another's history, nor gaps its cursors", async () => {
      const { log, append } = await setup({ maxEvents: 3 });
      const acme = [await append("a1", "acme"), await append("a2", "acme")];
      const cursor = acme[0]!.id;
      for (let i = 0; i < 20; i++) await append(`flood ${i}`, "globex");
      expect(await log.readAfter(cursor, { audiences: ["org:acme", "broadcast"] })).toMatchObject({
        kind: "events",
        events: [acme[1]],
      });
      // The flooding audience lost its own history, and its readers are told.
      expect(await log.readAfter(cursor, { audiences: ["org:globex"] })).toMatchObject({
        kind: "gap",
        reason: "retention_exceeded",
      });
    });

    it("retained counts what each audience holds now, against its own bound", async () => {
      const { log, append } = await setup({ maxEvents: 3 });
      expect(await log.retained("org:acme")).toBe(0);
      await append("a1", "acme");
      await append("a2", "acme");
      for (let i = 0; i < 20; i++) await append(`flood ${i}`, "globex");
      expect(await log.retained("org:acme")).toBe(2);
      // At its bound (a log that trims in batches may hold up to one batch more).
      const globex = await log.retained("org:globex");
      expect(globex).toBeGreaterThanOrEqual(3);
      expect(globex).toBeLessThan(20);
      expect(await log.retained("org:initech")).toBe(0);
    });

    it("the total bound evicts oldest first across audiences, with a gap for cursors before what it evicted", async () => {
      const { log, append } = await setup({ maxEvents: 10, maxTotalEvents: 4 });
      const first = await append("1", "acme");
      const second = await append("2", "globex");
      const rest = [await append("3", "initech"), await append("4", "acme"), await append("5", "globex")];
      expect(await log.size()).toBe(4);
      expect(await log.readAfter(first.id, { audiences: ["org:acme"] })).toMatchObject({
        kind: "events",
        events: [rest[1]],
      });
      expect(await log.readAfter(second.id)).toMatchObject({ kind: "events", events: rest });
      // A cursor at the evicted event itself missed nothing.
      expect((await log.readAfter(first.id)).kind).toBe("events");
      await append("6", "initech");
      // "1" and "2" are gone now: a cursor before "2" may have missed it, whichever audience it reads.
      expect(await log.readAfter(first.id, { audiences: ["org:acme"] })).toMatchObject({
        kind: "gap",
        reason: "retention_exceeded",
      });
    });

    it("retention by count: a cursor older than the oldest kept event gets a gap", async () => {
      const { log, append } = await setup({ maxEvents: 3 });
      const all: EventEnvelope[] = [];
      for (let i = 0; i < 6; i++) all.push(await append(String(i)));
      expect(await log.size()).toBe(3);
      // all[2] was the last evicted event: after it, nothing is missing.
      expect(await log.readAfter(all[2]!.id)).toMatchObject({ kind: "events", events: all.slice(3) });
      expect(await log.readAfter(all[1]!.id)).toEqual({
        kind: "gap",
        reason: "retention_exceeded",
        oldestAvailableId: all[3]!.id,
        head: all[5]!.id,
      });
    });

    it("retention by age", async () => {
      const { log, append } = await setup({ maxEvents: 100, maxAgeMs: 150 });
      const old = await append("old");
      await sleep(300);
      const recent = await append("recent");
      expect(await log.readAfter(recent.id)).toMatchObject({ kind: "events", events: [] });
      expect(await log.readAfter(old.id)).toMatchObject({ kind: "events", events: [recent] });
      expect(await log.size()).toBe(1);
      await sleep(300);
      expect(await log.readAfter(old.id)).toMatchObject({ kind: "gap", reason: "retention_exceeded" });
    });

    it("a cursor from before this stream began (a restart) is an unknown_cursor gap", async () => {
      const { log, append } = await setup();
      await append("1");
      expect(await log.readAfter("1000-0")).toMatchObject({ kind: "gap", reason: "unknown_cursor" });
    });

    it("refuses a cursor ahead of the stream, or malformed, with InvalidEventIdError", async () => {
      const { log, append } = await setup();
      const e = await append("1");
      const [ms] = e.id.split("-");
      const epoch = epochOf(e.id) ? `.${epochOf(e.id)}` : "";
      await expect(Promise.resolve().then(() => log.readAfter(`${Number(ms) + 1}-0${epoch}`))).rejects.toThrow(
        /ahead of this stream/,
      );
      await expect(Promise.resolve().then(() => log.readAfter("nonsense"))).rejects.toBeInstanceOf(InvalidEventIdError);
    });
  });
}
