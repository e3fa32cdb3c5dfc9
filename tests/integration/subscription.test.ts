import { TRPCError } from "@trpc/server";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";

import { getEventLayer } from "../helpers/runtime";
import type { LiveEvent } from "~/server/events";
import { compareEventIds } from "~/server/events";
import { callerFor, demoSessions, freshEventLayer, orgIdOf, sessionFor, setupDatabase, subscribe } from "./harness";

const codeOf = (error: unknown) => (error instanceof TRPCError ? error.code : `not a TRPCError: ${String(error)}`);
async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

beforeAll(setupDatabase);
beforeEach(() => {
  freshEventLayer();
});

describe("events.onEvent through the tRPC caller", () => {
  it("is live after system.ready and receives what a mutation emits", async () => {
    const alice = await sessionFor("alice@acme.test");
    const sub = await subscribe(alice);
    await sub.ready();
    expect(sub.received[0]!.event).toMatchObject({ name: "system.ready", data: { resumedFrom: null, replayed: 0 } });

    const sent = await callerFor(alice).notification.send({ target: { kind: "self" }, message: "hello me" });
    await sub.waitForName("notification.created");
    const [got] = sub.events();
    expect(got).toMatchObject({
      id: sent.id,
      event: {
        name: "notification.created",
        version: 1,
        data: { message: "hello me", scope: "user", from: { userId: alice.user.id } },
      },
    });
    // Targets are routing data, not payload: they never reach the client.
    expect(got!.event).not.toHaveProperty("target");
    await sub.close();
  });

  it("refuses a caller without a session: UNAUTHORIZED", async () => {
    expect(codeOf(await rejection(callerFor(null).events.onEvent({})))).toBe("UNAUTHORIZED");
    expect(codeOf(await rejection(callerFor(null).notification.send({ target: { kind: "self" }, message: "x" })))).toBe(
      "UNAUTHORIZED",
    );
  });

  it("isolates organisations: Acme's order events never reach Globex", async () => {
    const { alice, bob, carol } = await demoSessions();
    const subs = { alice: await subscribe(alice), bob: await subscribe(bob), carol: await subscribe(carol) };
    await Promise.all(Object.values(subs).map((s) => s.ready()));

    const order = await callerFor(alice).order.create({ title: "Acme brand book", totalCents: 99_00, currency: "EUR" });
    await callerFor(alice).order.updateStatus({ orderId: order.id, to: "IN_PROGRESS" });
    // A marker sent to Carol after the Acme events: once it arrives, anything
    // meant for her that was emitted earlier would have arrived too.
    await callerFor(carol).notification.send({ target: { kind: "self" }, message: "marker" });

    await subs.alice.waitForName("order.status.changed");
    await subs.bob.waitForName("order.status.changed");
    await subs.carol.waitForName("notification.created");
    expect(subs.bob.events().map((r) => r.event.name)).toEqual(
      expect.arrayContaining(["order.created", "order.status.changed"]),
    );
    expect(subs.alice.events().find((r) => r.event.name === "order.created")!.event.data).toMatchObject({
      orderId: order.id,
      total: 9900,
      currency: "EUR",
      displayAmount: "€99.00",
    });
    expect(subs.carol.events().map((r) => r.event.name)).toEqual(["notification.created"]);
    await Promise.all(Object.values(subs).map((s) => s.close()));
  });

  it("two tabs of one sign-in are two sessions: a session target reaches only its tab", async () => {
    const alice = await sessionFor("alice@acme.test");
    const tabA = await subscribe(alice, { tabId: "tab-aaaaaaaa", names: ["notification.created"] });
    const tabB = await subscribe(alice, { tabId: "tab-bbbbbbbb", names: ["notification.created"] });
    await Promise.all([tabA.ready(), tabB.ready()]);
    const fromTabA = callerFor(alice, undefined, { "x-tab-id": "tab-aaaaaaaa" });
    await fromTabA.notification.send({ target: { kind: "session" }, message: "only tab A" });
    await fromTabA.notification.send({ target: { kind: "self" }, message: "every tab" });
    await tabB.waitForName("notification.created");
    await tabA.waitForName("notification.created", 2);
    const messages = (s: typeof tabA) =>
      s.events().map((r) => (r.event.name === "notification.created" ? r.event.data.message : ""));
    expect(messages(tabA)).toEqual(["only tab A", "every tab"]);
    expect(messages(tabB)).toEqual(["every tab"]);
    const sessions = getEventLayer()
      .registry.list({ userId: alice.user.id })
      .map((c) => c.sessionId)
      .sort();
    expect(sessions).toEqual([`${alice.sessionId}.tab-aaaaaaaa`, `${alice.sessionId}.tab-bbbbbbbb`]);
    await Promise.all([tabA.close(), tabB.close()]);

    // A tab id that is not well formed is refused, never used as a session.
    await expect(callerFor(alice).events.onEvent({ tabId: "x" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("filters by names", async () => {
    const alice = await sessionFor("alice@acme.test");
    const onlyOrders = await subscribe(alice, { names: ["order.created"] });
    const everything = await subscribe(alice);
    await Promise.all([onlyOrders.ready(), everything.ready()]);
    await callerFor(alice).notification.send({ target: { kind: "self" }, message: "not an order" });
    await callerFor(alice).order.create({ title: "Filtered", totalCents: 100 });
    await everything.waitForName("order.created");
    await onlyOrders.waitForName("order.created");
    expect(onlyOrders.events().map((r) => r.event.name)).toEqual(["order.created"]);
    expect(everything.events().map((r) => r.event.name)).toEqual(["notification.created", "order.created"]);
    await Promise.all([onlyOrders.close(), everything.close()]);
  });

  it("resumes after lastEventId with no loss and no duplicate", async () => {
    const alice = await sessionFor("alice@acme.test");
    const api = callerFor(alice);
    const notes = { names: ["notification.created" as const] };
    const first = await subscribe(alice, notes);
    await first.ready();
    for (const n of [1, 2, 3]) await api.notification.send({ target: { kind: "self" }, message: `m${n}` });
    await first.waitForName("notification.created", 3);
    const seen = first.events();
    await first.close();

    // While disconnected, two more arrive.
    for (const n of [4, 5]) await api.notification.send({ target: { kind: "self" }, message: `m${n}` });

    const resumed = await subscribe(alice, { ...notes, lastEventId: seen[0]!.id });
    await resumed.ready();
    await api.notification.send({ target: { kind: "self" }, message: "m6" });
    await resumed.waitForName("notification.created", 5);
    const messages = resumed
      .events()
      .map((r) => (r.event.name === "notification.created" ? r.event.data.message : r.event.name));
    expect(messages).toEqual(["m2", "m3", "m4", "m5", "m6"]);
    const ready = resumed.received.find((r) => r.event.name === "system.ready")!;
    expect(ready.event.data).toMatchObject({ resumedFrom: seen[0]!.id, replayed: 4 });
    // Replay comes before ready, live after it.
    expect(resumed.names().indexOf("system.ready")).toBe(4);
    const ids = resumed.events().map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    await resumed.close();
  });

  it("an event emitted while the log is being replayed arrives exactly once", async () => {
    const layer = getEventLayer();
    const alice = await sessionFor("alice@acme.test");
    const acme = await orgIdOf("acme");
    const before = await layer.bus.emit(
      "payment.failed",
      { orderId: "o-before", errorCode: "e" },
      { kind: "organization", organizationId: acme },
    );
    await layer.bus.emit(
      "payment.failed",
      { orderId: "o-replayed", errorCode: "e" },
      { kind: "organization", organizationId: acme },
    );
    // Fault injection at the seam: another emit lands after the subscriber was
    // added but before the log is read (what a concurrent emitter or a Redis
    // round trip produces).
    const readAfter = layer.bus.readAfter.bind(layer.bus);
    let injected = false;
    layer.bus.readAfter = (...args) => {
      if (!injected) {
        injected = true;
        void layer.bus.emit(
          "payment.failed",
          { orderId: "o-during", errorCode: "e" },
          { kind: "organization", organizationId: acme },
        );
      }
      return readAfter(...args);
    };
    const sub = await subscribe(alice, { lastEventId: layer.cursors.seal(before.id), names: ["payment.failed"] });
    await sub.ready();
    await layer.bus.emit(
      "payment.failed",
      { orderId: "o-after", errorCode: "e" },
      { kind: "organization", organizationId: acme },
    );
    await sub.waitFor(
      (all) => all.some((r) => r.event.name === "payment.failed" && r.event.data.orderId === "o-after"),
      "o-after",
    );
    expect(sub.events().map((r) => (r.event.name === "payment.failed" ? r.event.data.orderId : ""))).toEqual([
      "o-replayed",
      "o-during",
      "o-after",
    ]);
    expect(injected).toBe(true);
    await sub.close();
  });

  it("sends an explicit gap first when lastEventId is older than the retention window", async () => {
    freshEventLayer({ retentionCount: 3 });
    const alice = await sessionFor("alice@acme.test");
    const api = callerFor(alice);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++)
      ids.push((await api.notification.send({ target: { kind: "self" }, message: `m${i}` })).id!);

    const sub = await subscribe(alice, { names: ["notification.created"], lastEventId: ids[1] });
    await sub.ready();
    await api.notification.send({ target: { kind: "self" }, message: "live" });
    await sub.waitForName("notification.created");
    expect(sub.names()).toEqual(["system.gap", "system.ready", "notification.created"]);
    expect(sub.received[0]!.event).toMatchObject({
      name: "system.gap",
      data: { lastEventId: ids[1], reason: "retention_exceeded" },
    });
    // Alice's own history keeps its newest three events. Cursors are sealed: they open to ids on the server.
    const { cursors } = getEventLayer();
    const gap = sub.received[0]!.event as Extract<LiveEvent, { name: "system.gap" }>;
    expect(cursors.open(gap.data.oldestAvailableId!)).toBe(cursors.open(ids[5]!));
    // The gap's id is a cursor at the head: resuming from it loses nothing more.
    expect(compareEventIds(cursors.open(sub.received[0]!.id), cursors.open(ids[7]!))).toBeGreaterThanOrEqual(0);
    await sub.close();

    // A cursor from before this process started (a restart) is a gap too.
    const restarted = await subscribe(alice, { lastEventId: cursors.seal("1000-0") });
    await restarted.waitForName("system.gap");
    expect(restarted.received[0]!.event).toMatchObject({ data: { reason: "unknown_cursor" } });
    await restarted.close();
  });

  it("enforces the per-user and global subscription limits with TOO_MANY_REQUESTS", async () => {
    freshEventLayer({ maxConnectionsPerUser: 2, maxConnections: 3 });
    const { alice, bob, carol } = await demoSessions();
    const a1 = await subscribe(alice);
    const a2 = await subscribe(alice);
    await Promise.all([a1.ready(), a2.ready()]);
    const perUser = await rejection(callerFor(alice).events.onEvent({}));
    expect(codeOf(perUser)).toBe("TOO_MANY_REQUESTS");
    expect((perUser as Error).message).toMatch(/per-user limit/);

    const b1 = await subscribe(bob);
    await b1.ready();
    expect(codeOf(await rejection(callerFor(carol).events.onEvent({})))).toBe("TOO_MANY_REQUESTS");

    await a2.close();
    const again = await subscribe(carol);
    await again.ready();
    await Promise.all([a1.close(), b1.close(), again.close()]);
  });

  it("closing a subscription frees its registry entry and bus subscription", async () => {
    const layer = getEventLayer();
    const alice = await sessionFor("alice@acme.test");
    const subs = await Promise.all([subscribe(alice), subscribe(alice)]);
    await Promise.all(subs.map((s) => s.ready()));
    expect(layer.registry.size).toBe(2);
    expect((await layer.bus.stats()).subscribers).toBe(2);
    await Promise.all(subs.map((s) => s.close()));
    expect(layer.registry.size).toBe(0);
    expect((await layer.bus.stats()).subscribers).toBe(0);
    expect(layer.bus.indexKeyCount()).toBe(0);
  });
});

describe("bad input gets a clear error and loses nothing", () => {
  it("rejects unknown names, malformed and foreign lastEventIds, and keeps serving everyone else", async () => {
    const alice = await sessionFor("alice@acme.test");
    const bob = await sessionFor("bob@acme.test");
    const bystander = await subscribe(bob);
    await bystander.ready();
    const api = callerFor(alice);

    const unknownName = await rejection(api.events.onEvent({ names: ["order.deleted" as never] }));
    expect(codeOf(unknownName)).toBe("BAD_REQUEST");
    expect((unknownName as Error).message).toMatch(/unknown event name "order.deleted"/);

    const malformed = await rejection(api.events.onEvent({ lastEventId: "yesterday" }));
    expect(codeOf(malformed)).toBe("BAD_REQUEST");
    expect((malformed as Error).message).toMatch(/malformed/);

    // A cursor ahead of the stream (sealed with the server's own secret, so only a server bug could make one).
    const { cursors } = getEventLayer();
    const future = await rejection(api.events.onEvent({ lastEventId: cursors.seal(`${Date.now() + 86_400_000}-0`) }));
    expect(codeOf(future)).toBe("BAD_REQUEST");
    expect((future as Error).message).toMatch(/not issued here/);
    // A plain id, and a forged or tampered cursor, open nothing.
    const plain = await rejection(api.events.onEvent({ lastEventId: `${Date.now()}-0` }));
    expect((plain as Error).message).toMatch(/malformed/);
    const genuine = cursors.seal(`${Date.now()}-0`);
    const tampered = `${genuine.slice(0, 20)}${genuine[20] === "A" ? "B" : "A"}${genuine.slice(21)}`;
    for (const forged of [tampered, "A".repeat(40)]) {
      const refused = await rejection(api.events.onEvent({ lastEventId: forged }));
      expect(codeOf(refused)).toBe("BAD_REQUEST");
      expect((refused as Error).message).toMatch(/not issued here/);
    }

    const tooLong = await rejection(
      api.notification.send({ target: { kind: "organization" }, message: "x".repeat(5_000) }),
    );
    expect(codeOf(tooLong)).toBe("BAD_REQUEST");

    expect(getEventLayer().registry.size).toBe(1);
    await api.notification.send({ target: { kind: "organization" }, message: "still working" });
    await bystander.waitForName("notification.created");
    expect(bystander.events()).toHaveLength(1);
    await bystander.close();
  });

  it("an oversized payload is PAYLOAD_TOO_LARGE through a procedure, and nothing is delivered", async () => {
    freshEventLayer({ maxPayloadBytes: 300 });
    const alice = await sessionFor("alice@acme.test");
    const sub = await subscribe(alice, { names: ["notification.created"] });
    await sub.ready();
    const error = await rejection(
      callerFor(alice).notification.send({ target: { kind: "self" }, message: "y".repeat(400) }),
    );
    expect(codeOf(error)).toBe("PAYLOAD_TOO_LARGE");
    expect((error as Error).message).toMatch(/limit is 300/);
    await callerFor(alice).notification.send({ target: { kind: "self" }, message: "small" });
    await sub.waitForName("notification.created");
    expect(sub.events().map((r) => (r.event.name === "notification.created" ? r.event.data.message : ""))).toEqual([
      "small",
    ]);
    expect(await getEventLayer().bus.stats()).toMatchObject({ rejected: 1 });
    await sub.close();
  });

  it("refuses targets outside the caller's organisation and non-admin broadcasts, delivering nothing", async () => {
    const { alice, bob, carol } = await demoSessions();
    const carolSub = await subscribe(carol);
    await carolSub.ready();
    const globex = await orgIdOf("globex");

    expect(
      codeOf(
        await rejection(
          callerFor(alice).notification.send({ target: { kind: "user", userId: carol.user.id }, message: "hi" }),
        ),
      ),
    ).toBe("FORBIDDEN");
    // No such user: the same answer, so ids cannot be probed.
    expect(
      codeOf(
        await rejection(
          callerFor(alice).notification.send({ target: { kind: "user", userId: "no-such-user" }, message: "hi" }),
        ),
      ),
    ).toBe("FORBIDDEN");
    expect(
      codeOf(
        await rejection(
          callerFor(alice).notification.send({
            target: { kind: "organization", organizationId: globex },
            message: "hi",
          }),
        ),
      ),
    ).toBe("FORBIDDEN");
    expect(
      codeOf(await rejection(callerFor(bob).notification.send({ target: { kind: "broadcast" }, message: "hi" }))),
    ).toBe("FORBIDDEN");
    expect(
      codeOf(await rejection(callerFor(alice).order.create({ title: "x", totalCents: 1, organizationId: globex }))),
    ).toBe("FORBIDDEN");
    const globexOrder = await callerFor(carol).order.create({ title: "Globex only", totalCents: 500 });
    expect(
      codeOf(await rejection(callerFor(alice).order.updateStatus({ orderId: globexOrder.id, to: "CANCELLED" }))),
    ).toBe("NOT_FOUND");

    // An organisation's admin cannot broadcast to every tenant; the platform operator can, and it does reach
    // Globex: the first thing Carol sees after her own order.
    expect(
      codeOf(await rejection(callerFor(alice).notification.send({ target: { kind: "broadcast" }, message: "hi" }))),
    ).toBe("FORBIDDEN");
    const { olivia } = await demoSessions();
    await callerFor(olivia).notification.send({ target: { kind: "broadcast" }, message: "to everyone" });
    await carolSub.waitForName("notification.created");
    expect(carolSub.events().map((r) => r.event.name)).toEqual(["order.created", "notification.created"]);
    await carolSub.close();
  });
});

describe("observability", () => {
  it("stats are admin-only and scoped to the caller's organisations; presence lists online members", async () => {
    const { alice, bob, carol, olivia } = await demoSessions();
    const subs = [await subscribe(alice), await subscribe(alice), await subscribe(carol)];
    await Promise.all(subs.map((s) => s.ready()));
    await callerFor(alice).notification.send({ target: { kind: "self" }, message: "count me" });
    await subs[0]!.waitForName("notification.created");
    await subs[1]!.waitForName("notification.created");

    expect(codeOf(await rejection(callerFor(bob).events.stats()))).toBe("FORBIDDEN");
    // Alice administers Acme: Carol's Globex stream is not hers to see, and neither are the platform's totals.
    const stats = await callerFor(alice).events.stats();
    expect(stats.scope).toBe("organization");
    expect(stats.totalConnections).toBe(2);
    expect(stats.organizations).toEqual([
      { id: await orgIdOf("acme"), name: "Acme", connections: 2, members: [{ name: "Alice", connections: 2 }] },
    ]);
    expect(stats.eventsSent).toBeGreaterThanOrEqual(2);
    expect(stats.lastEventAt).not.toBeNull();
    expect(stats.platform).toBeNull();
    expect(JSON.stringify(stats)).not.toContain(carol.user.id);
    // The platform operator sees every tenant.
    const all = await callerFor(olivia).events.stats();
    expect(all.totalConnections).toBe(3);
    expect(all.platform!.clientsByUser).toEqual({ [alice.user.id]: 2, [carol.user.id]: 1 });
    expect(all.platform!.bus.emitted).toBeGreaterThanOrEqual(1);
    expect(all.organizations.map((o) => o.name).sort()).toEqual(["Acme", "Globex"]);

    const presence = await callerFor(bob).events.presence();
    expect(presence).toHaveLength(1);
    expect(presence[0]!.organizationName).toBe("Acme");
    expect(presence[0]!.online).toEqual([expect.objectContaining({ userId: alice.user.id, connections: 2 })]);
    await Promise.all(subs.map((s) => s.close()));
    expect((await callerFor(bob).events.presence())[0]!.online).toEqual([]);
  });

  it("announces presence changes to the organisation", async () => {
    const { alice, bob } = await demoSessions();
    const aliceSub = await subscribe(alice, { names: ["presence.changed"] });
    await aliceSub.ready();
    // Presence is coalesced per organisation and second: a change in a quiet second is announced at once.
    const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1_100));
    await nextSecond();
    const bobSub = await subscribe(bob);
    await bobSub.ready();
    await aliceSub.waitForName("presence.changed", 1);
    await nextSecond();
    await bobSub.close();
    await aliceSub.waitForName("presence.changed", 2);
    expect(aliceSub.events().map((r) => r.event.data)).toEqual([
      expect.objectContaining({ userId: bob.user.id, online: true }),
      expect.objectContaining({ userId: bob.user.id, online: false }),
    ]);
    await aliceSub.close();
  });
});
