/**
 * Presence events in a burst: each organisation gets at most
 * `presenceEventsPerSecond` individual `presence.changed` per second, and the
 * rest of the window's transitions arrive as one `presence.many_changed`.
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
    layer = memoryLayer({ presenceEventsPerSecond: 3, maxConnections: 100, maxConnectionsPerUser: 100 });
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

  it("folds a burst past the limit into one presence.many_changed per window, per organisation", async () => {
    layer = memoryLayer({ presenceEventsPerSecond: 3, maxConnections: 100, maxConnectionsPerUser: 100 });
    const observer = await observe(layer);
    const l = layer;
    // The observer's own arrival was one transition of this window: 9 more members arrive at once.
    const members = await arrive(l, 9);
    await observer.waitFor((all) => all.some((r) => r.event.name === "presence.many_changed"), "the summary");
    const changed = observer.received.filter((r) => r.event.name === "presence.changed");
    const summaries = observer.received.filter((r) => r.event.name === "presence.many_changed");
    // At most 3 individual events in the window (the observer's own arrival may be one of them).
    expect(changed.length).toBeLessThanOrEqual(3);
    expect(summaries.map((r) => r.event.data)).toEqual([{ organizationId: "acme", changes: 10 - 3 }]);
    // Nothing is lost: what is online is what the list says.
    expect((await l.presence.online("acme")).length).toBe(10);
    await Promise.all(members.map((m) => m.close()));
    await observer.close();
  });

  it("has no limit at 0", async () => {
    layer = memoryLayer({ presenceEventsPerSecond: 0, maxConnections: 100, maxConnectionsPerUser: 100 });
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
