import { describe, expect, it } from "vitest";

import { InvalidEventIdError, SubscriptionRevokedError, type Entitlements } from "~/server/events";
import { identity, memoryLayer, readSubscription, recordingLogger } from "../helpers/event-layer";
import { waitUntil } from "../helpers/wait";

const bob = identity("bob");
const toAcme = { kind: "organization", organizationId: "acme" } as const;
const failed = (orderId: string) => ({ orderId, errorCode: "x" });
const note = (message: string) => ({
  notificationId: message,
  message,
  scope: "user" as const,
  from: { userId: "bob", name: null },
});

describe("subscription lifecycle", () => {
  it("a re-authorisation that completes after the stream closed does not subscribe again", async () => {
    let release!: (entitlements: Entitlements) => void;
    let calls = 0;
    const layer = memoryLayer({ reauthorizeIntervalMs: 5 }, undefined, () => {
      calls++;
      return new Promise<Entitlements>((resolve) => (release = resolve));
    });
    const sub = await readSubscription(layer, { identity: bob });
    await sub.waitFor((all) => all.some((r) => r.event.name === "system.ready"), "system.ready");
    await waitUntil(() => calls > 0, "a re-authorisation");
    await sub.close();
    expect((await layer.bus.stats()).subscribers).toBe(0);

    release({ ...bob, organizationIds: ["acme", "globex"] }); // changed entitlements, too late
    await new Promise((r) => setTimeout(r, 20));
    expect((await layer.bus.stats()).subscribers).toBe(0);
    expect(layer.registry.size).toBe(0);
    expect(layer.reauthorizer.userCount).toBe(0);
  });

  it("re-authorisation reads each user once per interval however many streams they hold", async () => {
    const lookups = new Map<string, number>();
    const layer = memoryLayer(
      { reauthorizeIntervalMs: 100, maxConnections: 100, maxConnectionsPerUser: 50 },
      undefined,
      async (userId) => {
        lookups.set(userId, (lookups.get(userId) ?? 0) + 1);
        return { userId, userName: null, organizationIds: ["acme"], metadata: { role: "MEMBER" } };
      },
    );
    const subs = await Promise.all([
      ...Array.from({ length: 20 }, () => readSubscription(layer, { identity: identity("alice") })),
      ...Array.from({ length: 5 }, () => readSubscription(layer, { identity: identity("bob") })),
    ]);
    await new Promise((r) => setTimeout(r, 450));
    for (const sub of subs) await sub.close();
    // About four intervals passed: a few reads per user, never one per stream.
    for (const user of ["alice", "bob"]) {
      expect(lookups.get(user)).toBeGreaterThanOrEqual(2);
      expect(lookups.get(user)).toBeLessThanOrEqual(6);
    }
    expect(layer.reauthorizer.userCount).toBe(0);
  });

  it("a re-authorisation that finds the user gone, or the session past its end, ends the stream with UNAUTHORIZED", async () => {
    let exists = true;
    const layer = memoryLayer({ reauthorizeIntervalMs: 20 }, undefined, async (userId) =>
      exists ? { userId, userName: null, organizationIds: ["acme"], metadata: {} } : null,
    );
    const gone = await readSubscription(layer, { identity: identity("alice") });
    const expired = await readSubscription(layer, { identity: identity("bob"), expiresAt: Date.now() + 30 });
    await expired.ended();
    expect(expired.failure()).toBeInstanceOf(SubscriptionRevokedError);
    exists = false;
    await gone.ended();
    expect((gone.failure() as SubscriptionRevokedError).code).toBe("UNAUTHORIZED");
    expect(layer.registry.size).toBe(0);
  });

  it("a subscriber that falls behind catches up from the log instead of growing its queue", async () => {
    const { logger, events } = recordingLogger();
    const layer = memoryLayer({}, logger);
    const sub = await readSubscription(layer, { names: ["payment.failed"], highWaterMark: 3 });
    await sub.waitFor((all) => all.some((r) => r.event.name === "system.ready"), "system.ready");
    sub.pause(); // the reader stops after its next item
    const emitted: string[] = [];
    for (let i = 0; i < 10; i++) emitted.push((await layer.bus.emit("payment.failed", failed(`o${i}`), toAcme)).id);
    sub.resume();
    await sub.waitFor(() => sub.ids().length === 10, "10 events");
    expect(sub.ids()).toEqual(emitted);
    expect(events("warn")).toContain("connection.catch_up");
    await sub.close();
  });

  it("resumes exactly: what was emitted during the replay arrives once, in order", async () => {
    const layer = memoryLayer();
    const first = await layer.bus.emit("payment.failed", failed("before"), toAcme);
    const cursor = first.id;
    await layer.bus.emit("payment.failed", failed("missed-1"), toAcme);
    await layer.bus.emit("payment.failed", failed("missed-2"), toAcme);
    // An emit that lands between subscribing and reading the log.
    const readAfter = layer.bus.readAfter.bind(layer.bus);
    let during: string | undefined;
    layer.bus.readAfter = async (...args) => {
      during = (await layer.bus.emit("payment.failed", failed("during"), toAcme)).id;
      return readAfter(...args);
    };
    const sub = await readSubscription(layer, { lastEventId: cursor, names: ["payment.failed"] });
    layer.bus.readAfter = readAfter;
    const after = await layer.bus.emit("payment.failed", failed("after"), toAcme);
    await sub.waitFor(() => sub.ids().includes(after.id), "the live event");
    const orders = sub.received
      .filter((r) => r.event.name === "payment.failed")
      .map((r) => (r.event.data as { orderId: string }).orderId);
    expect(orders).toEqual(["missed-1", "missed-2", "during", "after"]);
    expect(sub.ids()).toContain(during);
    expect(sub.names()[3]).toBe("system.ready");
    await sub.close();
  });

  it("more live events during a replay than it holds: the log is read again, nothing lost", async () => {
    const layer = memoryLayer();
    const start = await layer.bus.head();
    const readAfter = layer.bus.readAfter.bind(layer.bus);
    const emitted: string[] = [];
    let once = true;
    layer.bus.readAfter = async (...args) => {
      if (once) {
        once = false;
        for (let i = 0; i < 5; i++) emitted.push((await layer.bus.emit("payment.failed", failed(`p${i}`), toAcme)).id);
      }
      return readAfter(...args);
    };
    const sub = await readSubscription(layer, { lastEventId: start, maxPendingEvents: 2, names: ["payment.failed"] });
    await sub.waitFor(() => sub.ids().length === 5, "5 events");
    expect(sub.ids()).toEqual(emitted);
    await sub.close();
  });

  it("a refused cursor holds nothing and counts as rejected", async () => {
    const layer = memoryLayer();
    await expect(readSubscription(layer, { lastEventId: "nonsense" })).rejects.toBeInstanceOf(InvalidEventIdError);
    expect(layer.registry.stats()).toMatchObject({ totalConnections: 0, connectionsOpened: 0, connectionsRejected: 1 });
    expect((await layer.bus.stats()).subscribers).toBe(0);
    expect(await layer.presence.online("acme")).toEqual([]);
  });

  it("closing frees the registry, the index and presence", async () => {
    const layer = memoryLayer();
    const sub = await readSubscription(layer, { identity: bob });
    expect(await layer.presence.online("acme")).toMatchObject([{ userId: "bob" }]);
    await sub.close();
    expect(layer.registry.size).toBe(0);
    expect(layer.bus.indexKeyCount()).toBe(0);
    expect(await layer.presence.online("acme")).toEqual([]);
  });

  it("a stream shared by every tab of a sign-in gets each tab's events, marked with the tab, live and on replay", async () => {
    const layer = memoryLayer();
    const shared = await readSubscription(layer, {
      identity: identity("bob", ["acme"], { sessionId: "bob-s", allTabs: true }),
    });
    const otherTab = await readSubscription(layer, {
      identity: identity("bob", ["acme"], { sessionId: "bob-s.other" }),
    });
    const cursor = (await layer.bus.emit("payment.failed", failed("o0"), toAcme)).id;
    // Another sign-in's tab is not ours (sent first: had it come through, it would be here by now).
    const foreign = await layer.bus.emit("notification.created", note("o2"), {
      kind: "session",
      sessionId: "eve-s.tab1",
    });
    const toTab = await layer.bus.emit("notification.created", note("o1"), {
      kind: "session",
      sessionId: "bob-s.tab1",
    });
    await shared.waitFor((all) => all.some((r) => r.id === toTab.id), "the tab's event");
    expect(shared.received.find((r) => r.id === toTab.id)!.event).toMatchObject({ tabId: "tab1" });
    expect(shared.ids()).not.toContain(foreign.id);
    expect(otherTab.ids()).not.toContain(toTab.id);

    const resumed = await readSubscription(layer, {
      identity: identity("bob", ["acme"], { sessionId: "bob-s", allTabs: true }),
      lastEventId: cursor,
    });
    await resumed.waitFor((all) => all.some((r) => r.event.name === "system.ready"), "ready");
    expect(resumed.ids()).toEqual([toTab.id]);
    for (const sub of [shared, otherTab, resumed]) await sub.close();
    expect(layer.bus.indexKeyCount()).toBe(0);
  });
});
