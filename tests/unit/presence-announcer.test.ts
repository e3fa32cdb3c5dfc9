/**
 * Presence events in a burst: an organisation's `presence.changed` events stay
 * within `presenceDeliveriesPerSecond` (events × its open connections), and
 * the rest of the second's transitions arrive as one `presence.many_changed`.
 */
import { afterEach, describe, expect, it } from "vitest";

import type { EventLayer } from "~/server/events";
import { identity, memoryLayer, readSubscription } from "../helpers/event-layer";

const presenceNames = ["presence.changed", "presence.many_changed"] as const;
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
    const bob = await readSubscription(layer, { identity: identity("bob") });
    await bob.waitFor((all) => all.some((r) => r.event.name === "system.ready"), "bob ready");
    await bob.close();
    await observer.waitFor((all) => all.filter((r) => r.event.name === "presence.changed").length === 2, "2 changes");
    expect(observer.received.filter((r) => r.event.name !== "system.ready").map((r) => r.event.data)).toEqual([
      expect.objectContaining({ userId: "bob", online: true }),
      expect.objectContaining({ userId: "bob", online: false }),
    ]);
    await observer.close();
  });

  it("folds the transitions past the budget into one presence.many_changed for the second", async () => {
    layer = memoryLayer({ presenceDeliveriesPerSecond: 30, maxConnections: 100, maxConnectionsPerUser: 100 });
    const observer = await observe(layer); // a transition too, with 1 connection open: allowed 30 a second
    const members = [];
    // One after the other: with k connections open, 30 / k events a second are allowed.
    for (let i = 0; i < 9; i++) members.push(await readSubscription(layer, { identity: identity(`member-${i}`) }));
    await observer.waitFor((all) => all.some((r) => r.event.name === "presence.many_changed"), "the summary");
    // Announced: the observer's arrival (not sent to itself) and members 0–3 (2–5 open: 15, 10, 7, 6 allowed);
    // member 4 finds 5 announced with 6 open (5 allowed), and it and the four after it are folded.
    expect(
      observer.received.flatMap((r) => (r.event.name === "presence.changed" ? [r.event.data.userId] : [])),
    ).toEqual(["member-0", "member-1", "member-2", "member-3"]);
    expect(observer.received.filter((r) => r.event.name === "presence.many_changed").map((r) => r.event.data)).toEqual([
      { organizationId: "acme", changes: 5 },
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
