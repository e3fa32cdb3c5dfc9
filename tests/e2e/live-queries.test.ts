/**
 * Live queries over the wire: tRPC's client against the production build, a
 * real QueryClient kept by the app's bindings from the event stream, racing
 * the query's own fetch, then a dropped stream and its resume.
 */
import { QueryClient, QueryObserver } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";

import type { LiveEvent } from "~/server/events";
import { liveBindings } from "~/trpc/live-bindings";
import { keep, refetch, type AnyLiveBindings } from "~/trpc/live/bindings";
import { LiveQueryCache } from "~/trpc/live/live-query-cache";
import { signIn, trpcClient, until } from "./http-client";

type Client = ReturnType<typeof trpcClient>["client"];

/** The app's bindings, recording every (order, version) a patch applied. */
function recording(applied: string[]): AnyLiveBindings {
  type Patch = (data: unknown, event: LiveEvent, input: unknown) => unknown;
  const wrap =
    (patch: Patch): Patch =>
    (data, event, input) => {
      const result = patch(data, event, input);
      if (result !== keep && result !== refetch) {
        const { orderId, orderVersion } = event.data as { orderId: string; orderVersion?: number };
        applied.push(`${orderId}@${orderVersion}`);
      }
      return result;
    };
  const orderList = liveBindings["order.list"] as Record<string, Patch | "refetch">;
  return {
    ...(liveBindings as AnyLiveBindings),
    "order.list": Object.fromEntries(
      Object.entries(orderList).map(([name, patch]) => [name, patch === "refetch" ? patch : wrap(patch)]),
    ),
  };
}

/** The tab's stream, as useLiveEvents feeds the cache: events applied, a fresh start or a gap resyncs. */
function stream(client: Client, cache: LiveQueryCache, lastEventId: string | null) {
  let last = lastEventId;
  let ready = false;
  const subscription = client.events.onEvent.subscribe(
    { lastEventId },
    {
      onData: ({ id, data }) => {
        last = id;
        if (data.name === "system.ready") {
          ready = true;
          if (data.data.resumedFrom === null) cache.resync();
        } else if (data.name === "system.gap") cache.resync();
        else cache.apply(data);
      },
    },
  );
  return {
    ready: () => until(() => ready, "system.ready"),
    last: () => last,
    close: () => subscription.unsubscribe(),
  };
}

describe("live queries", () => {
  it("order.list stays equal to a fresh read through its own fetch, racing changes, a dropped stream and a resume", async () => {
    const { client } = trpcClient(await signIn("alice@acme.test"));
    const created = [];
    for (let i = 0; i < 3; i++) {
      created.push(await client.order.create.mutate({ title: `race ${i}`, totalCents: 100 + i, currency: "USD" }));
    }
    const applied: string[] = [];
    const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
    const cache = new LiveQueryCache(queryClient, recording(applied));
    let live = stream(client, cache, null);
    await live.ready();

    const key = [["order", "list"], { type: "query" }];
    const fetched: number[] = [];
    const observer = new QueryObserver(queryClient, {
      queryKey: key,
      queryFn: async () => {
        fetched.push(Date.now());
        return client.order.list.query();
      },
    });
    const unsubscribe = observer.subscribe(() => {});
    // Changes while the query's first fetch is in flight, and right after it.
    const [a, b, c] = created as [(typeof created)[number], (typeof created)[number], (typeof created)[number]];
    await Promise.all([
      client.order.updateStatus.mutate({ orderId: a.id, to: "IN_PROGRESS" }),
      client.order.payDemo.mutate({ orderId: b.id }),
    ]);
    await client.order.payDemo.mutate({ orderId: a.id });
    await client.order.updateStatus.mutate({ orderId: a.id, to: "DELIVERED" });

    // The stream drops; changes happen meanwhile; it resumes from its last id.
    live.close();
    const resumeFrom = live.last();
    await client.order.updateStatus.mutate({ orderId: b.id, to: "IN_PROGRESS" });
    await client.order.updateStatus.mutate({ orderId: c.id, to: "CANCELLED" });
    const d = await client.order.create.mutate({ title: "race 3", totalCents: 103, currency: "USD" });
    live = stream(client, cache, resumeFrom);
    await live.ready();
    await client.order.updateStatus.mutate({ orderId: d.id, to: "IN_PROGRESS" });

    const fresh = () => client.order.list.query();
    await until(
      async () => JSON.stringify(queryClient.getQueryData(key)) === JSON.stringify(await fresh()),
      "the cache equals a fresh read",
    );
    expect(queryClient.getQueryData(key)).toEqual(await fresh());
    // Every version was applied at most once (a fetch that already had it keeps it).
    expect(new Set(applied).size).toBe(applied.length);
    // Kept current by events, not by reading the list again after each one.
    expect(fetched.length).toBeLessThanOrEqual(2);
    expect(cache.stats.applied).toBeGreaterThan(0);
    live.close();
    unsubscribe();
    cache.dispose();
  });
});
