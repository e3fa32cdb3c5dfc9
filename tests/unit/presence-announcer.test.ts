/**
 * Presence is state: transitions are coalesced per organisation and second,
 * an organisation's `presence.changed` events stay within
 * `presenceDeliveriesPerSecond` (events × its open connections), the rest of
 * the second's changes arrive as one `presence.many_changed`, and none of it
 * is kept for replay.
 */
import { afterEach, describe, expect, it } from "vitest";

import type { EventLayer } from "~/server/events";
import { identity, memoryLayer, readSubscription } from "../helpers/event-layer";

const presenceNames = ["presence.changed", "presence.many_changed"] as const;
/** Past the announcer's one-second window. */
const nextWindow = () => new Promise((resolve) => setTimeout(resolve, 1_100));
let layer: EventLayer | undefined;

afterEach(async () => {
  await layer?.close();
  layer = undefined;
});

async function observe(l: EventLayer) {
  const observer = await readSubscription(l, { identity: identity("observer"), names: [...presenceNames] });
  await observer.waitFor((all) => all.some((r) => r.event.name === "system.ready"), "system.ready");
  return observer;
}

/** `count` members of acme open a stream each, at once. */
const arrive = (l: EventLayer, count: number) =>
  Promise.all(Array.from({ length: count }, (_, i) => readSubscription(l, { identity: identity(`member-${i}`) })));

describe("presence announcements", () => {
  it("announces each transition while members come and go one at a time", async () => {
    layer = memoryLayer({ presenceDeliveriesPerSecond: 30, maxConnections: 100, maxConnectionsPerUser: 100 });
    const observer = await observe(layer);
    await nextWindow();
    const bob = await readSubscription(layer, { identity: identity("bob") });
    await bob.waitFor((all) => all.some((r) => r.event.name === "system.ready"), "bob ready");
    // A quiet organisation hears of a change at once.
    await observer.waitFor((all) => all.some((r) => r.event.name === "presence.changed"), "bob online");
    await nextWindow();
    await bob.close();
    await observer.waitFor((all) => all.filter((r) => r.event.name === "presence.changed").length === 2, "2 changes");
    expect(observer.received.filter((r) => r.event.name !== "system.ready").map((r) => r.event.data)).toEqual([
      expect.objectContaining({ userId: "bob", online: true }),
      expect.objectContaining({ userId: "bob", online: false }),
    ]);
    await observer.close();
  });

  it("a member reconnecting in a loop is announced at most twice a second, and takes no place in the history", async () => {
    layer = memoryLayer({ presenceDeliveriesPerSecond: 2_000, maxConnections: 100, maxConnectionsPerUser: 100 });
    const observer = await observe(layer);
    await nextWindow();
    const logBefore = (await layer.bus.stats()).logSize;
    const started = Date.now();
    for (let i = 0; i < 60; i++) {
      const bob = await readSubscription(layer, { identity: identity("bob") });
      await bob.close();
    }
    const seconds = Math.ceil((Date.now() - started) / 1_000) + 1;
    await nextWindow();
    const announced = observer.received.filter((r) => r.event.name.startsWith("presence."));
    expect(announced.length).toBeLessThanOrEqual(2 * seconds);
    // Every window ends with bob offline, as it began: at most his first arrival and the last departure.
    expect(announced.length).toBeLessThanOrEqual(2);
    expect((await layer.bus.stats()).logSize).toBe(logBefore);
    await observer.close();
  });

  it("folds the changes past the budget into one presence.many_changed for the second", async () => {
    layer = memoryLayer({ presenceDeliveriesPerSecond: 30, maxConnections: 100, maxConnectionsPerUser: 100 });
    // The observer's arrival opens the window and is announced at once (not to the observer itself).
    const observer = await observe(layer);
    const members = [];
    for (let i = 0; i < 9; i++) members.push(await readSubscription(layer, { identity: identity(`member-${i}`) }));
    await observer.waitFor((all) => all.some((r) => r.event.name === "presence.many_changed"), "the summary");
    // At the window's end 10 connections are open: 30 / 10 = 3 announcements, one already made.
    expect(
      observer.received.flatMap((r) => (r.event.name === "presence.changed" ? [r.event.data.userId] : [])),
    ).toEqual(["member-0", "member-1"]);
    expect(observer.received.filter((r) => r.event.name === "presence.many_changed").map((r) => r.event.data)).toEqual([
      { organizationId: "acme", changes: 7 },
    ]);
    // Nothing is lost: the list says who is online.
    expect((await layer.presence.online("acme")).length).toBe(10);
    await Promise.all(members.map((m) => m.close()));
    await observer.close();
  });

  it("has no limit at 0", async () => {
    layer = memoryLayer({ presenceDeliveriesPerSecond: 0, maxConnections: 100, maxConnectionsPerUser: 100 });
    const observer = await observe(layer);
    const l = layer;
    const members = await arrive(l, 9);
    await observer.waitFor(
      (all) =>
        all.filter((r) => r.event.name === "presence.changed" && r.event.data.userId !== "observer").length === 9,
      "9 changes",
    );
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(observer.received.some((r) => r.event.name === "presence.many_changed")).toBe(false);
    await Promise.all(members.map((m) => m.close()));
    await observer.close();
  });
});
