/**
 * Live queries: the binding helpers, the app's bindings, and LiveQueryCache
 * on TanStack Query's real QueryClient (a fetch in flight, duplicates,
 * refetches coalesced, opt-out), plus the compile-time checks.
 */
import { QueryClient, QueryObserver, type QueryKey } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";

import type { AppRouter } from "~/server/api/root";
import type { LiveEvent } from "~/server/events";
import type { RouterOutputs } from "~/trpc/react";
import { liveBindings } from "~/trpc/live-bindings";
import { defineLiveBindings, insertOrdered, keep, patchVersioned, refetch } from "~/trpc/live/bindings";
import { LiveQueryCache } from "~/trpc/live/live-query-cache";

/** A row of `order.list`, as the router types it. */
type Row = RouterOutputs["order"]["list"][number];

const row = (id: string, at: number, extra: Partial<Row> = {}): Row => ({
  id,
  organizationId: "acme",
  title: id,
  totalCents: 100,
  currency: "USD",
  status: "CREATED",
  paymentStatus: "UNPAID",
  version: 1,
  createdAt: new Date(at),
  ...extra,
});

let seq = 0;
const event = <N extends LiveEvent["name"]>(name: N, data: Extract<LiveEvent, { name: N }>["data"]) =>
  ({ id: `e${++seq}`, name, version: 1, emittedAt: new Date().toISOString(), data }) as unknown as LiveEvent;

const statusChanged = (orderId: string, from: Row["status"], to: Row["status"], orderVersion: number) =>
  event("order.status.changed", { orderId, from, to, orderVersion });
const created = (orderId: string, at: number, organizationId = "acme") =>
  event("order.created", {
    orderId,
    title: orderId,
    total: 100,
    currency: "USD",
    displayAmount: "$1.00",
    orderVersion: 1,
    organizationId,
    createdAt: new Date(at).toISOString(),
  });

const listKey = (input?: object): QueryKey => [["order", "list"], { ...(input ? { input } : {}), type: "query" }];
const orderList = liveBindings["order.list"]!;
const apply = (rows: Row[], e: LiveEvent, input?: object) =>
  (orderList[e.name as "order.created"] as (d: Row[], ev: LiveEvent, i: unknown) => unknown)(rows, e, input);

describe("binding helpers", () => {
  it("patchVersioned applies the next version once, keeps what it has, and asks for a refetch past a skipped one", () => {
    const rows = [row("a", 2), row("b", 1)];
    const next = patchVersioned(rows, "a", 2, (r) => ({ ...r, status: "IN_PROGRESS" as const }));
    expect(next).toEqual([row("a", 2, { status: "IN_PROGRESS", version: 2 }), row("b", 1)]);
    expect(patchVersioned(next as Row[], "a", 2, (r) => r)).toBe(keep);
    expect(patchVersioned(rows, "a", 1, (r) => r)).toBe(keep);
    expect(patchVersioned(rows, "a", 3, (r) => r)).toBe(refetch);
    expect(patchVersioned(rows, "zz", 2, (r) => r)).toBe(refetch);
    expect(patchVersioned(rows, "a", undefined, (r) => r)).toBe(refetch);
  });

  it("insertOrdered places a new row where a fresh read would, within the limit", () => {
    const newer = (a: Row, b: Row) => a.createdAt > b.createdAt;
    const rows = [row("c", 30), row("a", 10)];
    expect(insertOrdered(rows, row("b", 20), newer, 3)).toEqual([row("c", 30), row("b", 20), row("a", 10)]);
    expect(insertOrdered(rows, row("d", 40), newer, 2)).toEqual([row("d", 40), row("c", 30)]);
    expect(insertOrdered(rows, row("z", 5), newer, 2)).toBe(keep);
    expect(insertOrdered(rows, row("a", 10), newer, 3)).toBe(keep);
  });
});

describe("the app's order.list bindings", () => {
  it("a new order joins the lists it belongs to, by organisation and status", () => {
    const rows = [row("a", 10)];
    expect(apply(rows, created("b", 20))).toEqual([row("b", 20, { title: "b" }), row("a", 10)]);
    expect(apply(rows, created("b", 20), { organizationId: "globex" })).toBe(keep);
    expect(apply(rows, created("b", 20), { status: "DELIVERED" })).toBe(keep);
    expect(apply(rows, created("a", 10))).toBe(keep);
  });

  it("a status change patches the order, leaves a filtered list, and asks for a read to enter one", () => {
    const rows = [row("a", 10), row("b", 5)];
    expect(apply(rows, statusChanged("a", "CREATED", "IN_PROGRESS", 2))).toEqual([
      row("a", 10, { status: "IN_PROGRESS", version: 2 }),
      row("b", 5),
    ]);
    expect(apply(rows, statusChanged("a", "CREATED", "IN_PROGRESS", 2), { status: "CREATED" })).toEqual([row("b", 5)]);
    expect(apply([row("b", 5)], statusChanged("a", "CREATED", "IN_PROGRESS", 2), { status: "IN_PROGRESS" })).toBe(
      refetch,
    );
    // Not held by a list that is not full: it should have been, so the list reads again.
    expect(apply(rows, statusChanged("zz", "CREATED", "IN_PROGRESS", 2))).toBe(refetch);
  });

  it("a payment patches the order's payment status at its version", () => {
    const paid = event("payment.succeeded", {
      orderId: "a",
      amount: 100,
      currency: "USD",
      providerRef: "p",
      displayAmount: "$1.00",
      orderVersion: 2,
    });
    expect(apply([row("a", 10)], paid)).toEqual([row("a", 10, { paymentStatus: "PAID", version: 2 })]);
  });
});

/** A row of `notification.inbox`. */
type Note = RouterOutputs["notification"]["inbox"][number];
const note = (id: string, at: number): Note => ({
  id,
  scope: "organization",
  message: id,
  from: { userId: "u1", name: "Alice" },
  createdAt: new Date(at),
});
const notified = (id: string, at: number | null, stored: boolean | undefined) =>
  event("notification.created", {
    notificationId: id,
    message: id,
    scope: "organization",
    from: { userId: "u1", name: "Alice" },
    ...(stored === undefined ? {} : { stored }),
    ...(at === null ? {} : { createdAt: new Date(at).toISOString() }),
  });
const inbox = liveBindings["notification.inbox"]!;
const applyInbox = (rows: Note[], e: LiveEvent) =>
  (inbox[e.name as "notification.created"] as (d: Note[], ev: LiveEvent, i: unknown) => unknown)(rows, e, undefined);

describe("the app's notification.inbox binding", () => {
  it("a stored notification takes its place, newest first, once; a passing one never enters", () => {
    const rows = [note("b", 20), note("a", 10)];
    expect(applyInbox(rows, notified("c", 30, true))).toEqual([note("c", 30), note("b", 20), note("a", 10)]);
    expect(applyInbox(rows, notified("b", 20, true))).toBe(keep);
    expect(applyInbox(rows, notified("p", 40, false))).toBe(keep);
    // Events from before the inbox carried no `stored`: they were pings.
    expect(applyInbox(rows, notified("p", null, undefined))).toBe(keep);
    // Stored but without its time: it cannot be placed exactly.
    expect(applyInbox(rows, notified("c", null, true))).toBe(refetch);
  });

  it("a full inbox keeps its length: the oldest falls off, an older one is not added", () => {
    const full = Array.from({ length: 20 }, (_, i) => note(`n${i}`, 1000 - i));
    const next = applyInbox(full, notified("new", 2000, true)) as Note[];
    expect(next).toHaveLength(20);
    expect(next[0]!.id).toBe("new");
    expect(next.at(-1)!.id).toBe("n18");
    expect(applyInbox(full, notified("old", 1, true))).toBe(keep);
  });
});

/** A QueryClient with one watched order.list query whose fetches the test resolves by hand. */
function harness(input?: object, meta?: Record<string, unknown>) {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  const cache = new LiveQueryCache(client, liveBindings);
  const fetches: ((rows: Row[]) => void)[] = [];
  const observer = new QueryObserver(client, {
    queryKey: listKey(input),
    queryFn: () => new Promise<Row[]>((resolve) => fetches.push(resolve)),
    ...(meta ? { meta } : {}),
  });
  const unsubscribe = observer.subscribe(() => {});
  const data = () => client.getQueryData<Row[]>(listKey(input));
  const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { client, cache, fetches, data, settled, close: () => (unsubscribe(), cache.dispose()) };
}

describe("LiveQueryCache on a QueryClient", () => {
  it("an event after the fetch patches the cached data", async () => {
    const h = harness();
    h.fetches.shift()!([row("a", 10)]);
    await h.settled();
    h.cache.apply(statusChanged("a", "CREATED", "IN_PROGRESS", 2));
    expect(h.data()).toEqual([row("a", 10, { status: "IN_PROGRESS", version: 2 })]);
    expect(h.fetches).toHaveLength(0);
    h.close();
  });

  it("an event during the fetch is applied to its result once: added when missing, kept when already there", async () => {
    const h = harness();
    h.cache.apply(statusChanged("a", "CREATED", "IN_PROGRESS", 2));
    h.fetches.shift()!([row("a", 10)]); // read before the change committed
    await h.settled();
    expect(h.data()).toEqual([row("a", 10, { status: "IN_PROGRESS", version: 2 })]);

    h.cache.resync();
    h.cache.apply(statusChanged("a", "IN_PROGRESS", "DELIVERED", 3));
    await h.settled();
    h.fetches.shift()!([row("a", 10, { status: "DELIVERED", version: 3 })]); // read after it
    await h.settled();
    expect(h.data()).toEqual([row("a", 10, { status: "DELIVERED", version: 3 })]);
    expect(h.cache.stats.kept).toBe(1);
    h.close();
  });

  it("duplicates (a resume, the other tab's copy) change nothing", async () => {
    const h = harness();
    h.fetches.shift()!([row("a", 10)]);
    await h.settled();
    const change = statusChanged("a", "CREATED", "IN_PROGRESS", 2);
    h.cache.apply(change);
    h.cache.apply(change);
    h.cache.apply(statusChanged("a", "CREATED", "IN_PROGRESS", 2));
    expect(h.data()).toEqual([row("a", 10, { status: "IN_PROGRESS", version: 2 })]);
    expect(h.cache.stats).toMatchObject({ applied: 1, kept: 2, refetches: 0 });
    h.close();
  });

  it("a gap refetches each bound query once, however many events follow before its result", async () => {
    const h = harness();
    h.fetches.shift()!([row("a", 10)]);
    await h.settled();
    h.cache.resync();
    for (let i = 0; i < 50; i++) {
      h.cache.resync();
      h.cache.apply(statusChanged("a", "CREATED", "IN_PROGRESS", 5)); // a version jump: would refetch too
    }
    await h.settled();
    expect(h.fetches).toHaveLength(1);
    expect(h.cache.stats.refetches).toBe(1);
    h.fetches.shift()!([row("a", 10, { status: "IN_PROGRESS", version: 5 })]);
    await h.settled();
    expect(h.data()).toEqual([row("a", 10, { status: "IN_PROGRESS", version: 5 })]);
    h.close();
  });

  it("a resync during the first fetch reads again once that fetch lands (TanStack joins a first fetch in flight)", async () => {
    const h = harness();
    // Going live asks for a fresh read while the page's first read (from before) is in flight.
    h.cache.resync();
    h.cache.resync();
    await h.settled();
    expect(h.fetches).toHaveLength(1);
    h.fetches.shift()!([row("a", 10)]); // read before the change that asked
    await h.settled();
    expect(h.fetches).toHaveLength(1);
    h.fetches.shift()!([row("a", 10, { status: "IN_PROGRESS", version: 2 })]);
    await h.settled();
    expect(h.data()).toEqual([row("a", 10, { status: "IN_PROGRESS", version: 2 })]);
    expect(h.fetches).toHaveLength(0);
    expect(h.cache.stats.refetches).toBe(1);
    h.close();
  });

  it("a query that opts out (meta.live = false) is left alone", async () => {
    const h = harness(undefined, { live: false });
    h.fetches.shift()!([row("a", 10)]);
    await h.settled();
    h.cache.apply(statusChanged("a", "CREATED", "IN_PROGRESS", 2));
    h.cache.resync();
    await h.settled();
    expect(h.data()).toEqual([row("a", 10)]);
    expect(h.fetches).toHaveLength(0);
    h.close();
  });

  it("each cached input gets what belongs to it", async () => {
    const all = harness();
    const client = all.client;
    const cache = all.cache;
    all.fetches.shift()!([row("a", 10), row("b", 5, { status: "IN_PROGRESS" })]);
    await all.settled();
    client.setQueryData(listKey({ status: "CREATED" }), [row("a", 10)]);
    cache.apply(statusChanged("a", "CREATED", "IN_PROGRESS", 2));
    expect(client.getQueryData(listKey({ status: "CREATED" }))).toEqual([]);
    expect(all.data()).toEqual([
      row("a", 10, { status: "IN_PROGRESS", version: 2 }),
      row("b", 5, { status: "IN_PROGRESS" }),
    ]);
    all.close();
  });
});

describe("opt-in events", () => {
  it("the browser's list of opt-in events (which take a stream of their own) is the catalog's", async () => {
    const { eventCatalog } = await import("~/server/domain/catalog");
    const { optInEventNames } = await import("~/trpc/react");
    const fromCatalog = Object.entries(eventCatalog)
      .filter(([, definition]) => (definition as { optIn?: true }).optIn === true)
      .map(([name]) => name);
    expect([...optInEventNames].sort()).toEqual(fromCatalog.sort());
  });
});

describe("bindings are checked at compile time", () => {
  it("a missing procedure, a missing event or a patch of the wrong shape does not compile", () => {
    const define = defineLiveBindings<AppRouter>();
    define({
      // @ts-expect-error: no such procedure
      "order.lst": {},
    });
    define({
      "order.list": {
        // @ts-expect-error: no such event
        "order.deleted": () => keep,
      },
    });
    define({
      "order.list": {
        // @ts-expect-error: order.list's data is a list of orders, not a count
        "order.created": (orders) => orders.length,
      },
    });
    define({
      "order.list": {
        // @ts-expect-error: the event's data has no `amount` (that is payment.succeeded's)
        "order.status.changed": (orders, event) => (event.data.amount ? orders : keep),
      },
    });
    expect(true).toBe(true);
  });
});
