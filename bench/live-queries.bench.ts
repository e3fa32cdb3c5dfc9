/**
 * What one tab pays to keep a query current from events: LiveQueryCache
 * applying order.status.changed events to a cached order.list (20 orders)
 * on TanStack Query's QueryClient with one observer, against the baseline of
 * writing the same new list with setQueryData directly (what any hand-written
 * cache patch costs at least). Single-threaded, in this process.
 *
 *   npm run bench:live-queries      (BENCH_LIVE_EVENTS, default 200,000)
 */
import { QueryClient, QueryObserver } from "@tanstack/react-query";

import type { LiveEvent } from "~/server/events";
import type { RouterOutputs } from "~/trpc/react";
import { liveBindings } from "~/trpc/live-bindings";
import { LiveQueryCache } from "~/trpc/live/live-query-cache";
import { table, writeScenario } from "./results-file";

const EVENTS = Number(process.env.BENCH_LIVE_EVENTS ?? 200_000);
const ROUNDS = 5;
const key = [["order", "list"], { type: "query" }];
/** A row of `order.list`, as the router types it. */
type Row = RouterOutputs["order"]["list"][number];
const rows = (): Row[] =>
  Array.from({ length: 20 }, (_, i) => ({
    id: `o${i}`,
    organizationId: "acme",
    title: `order ${i}`,
    totalCents: 100,
    currency: "USD",
    status: "CREATED",
    paymentStatus: "UNPAID",
    version: 1,
    createdAt: new Date(1_700_000_000_000 - i),
  }));

function setup() {
  const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity } } });
  client.setQueryData(key, rows());
  const observer = new QueryObserver(client, { queryKey: key, queryFn: () => rows(), enabled: false });
  const unsubscribe = observer.subscribe(() => {});
  return { client, close: unsubscribe };
}

/** Each event moves one of the 20 orders to its next version. */
const eventAt = (i: number, version: number): LiveEvent => ({
  id: `e${i}`,
  name: "order.status.changed",
  version: 1,
  emittedAt: "",
  data: { orderId: `o${i % 20}`, from: "CREATED", to: "IN_PROGRESS", orderVersion: version },
});

function timed(run: () => void): number {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1e3 / EVENTS; // µs per event
}

const results: { round: number; baseline: number; live: number }[] = [];
for (let round = 0; round <= ROUNDS; round++) {
  const base = setup();
  const baseline = timed(() => {
    for (let i = 0; i < EVENTS; i++) {
      const version = Math.floor(i / 20) + 2;
      base.client.setQueryData<Row[]>(key, (list) =>
        list!.map((o) => (o.id === `o${i % 20}` ? { ...o, status: "IN_PROGRESS", version } : o)),
      );
    }
  });
  base.close();
  const live = setup();
  const cache = new LiveQueryCache(live.client, liveBindings);
  const applied = timed(() => {
    for (let i = 0; i < EVENTS; i++) cache.apply(eventAt(i, Math.floor(i / 20) + 2));
  });
  if (cache.stats.applied !== EVENTS) throw new Error(`applied ${cache.stats.applied} of ${EVENTS}`);
  cache.dispose();
  live.close();
  if (round > 0) results.push({ round, baseline, live: applied }); // round 0 warms up
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const base = median(results.map((r) => r.baseline));
const live = median(results.map((r) => r.live));
const ratios = results.map((r) => r.live / r.baseline);
console.table(results);
console.log(`live ${live.toFixed(2)} µs/event, baseline ${base.toFixed(2)} µs/event, ×${median(ratios).toFixed(2)}`);
writeScenario(
  `live-queries-${EVENTS}`,
  `Live queries: ${EVENTS.toLocaleString("en")} status changes applied to a cached list of 20 orders, one tab`,
  table(
    ["apply", "CPU per event (median of 5)", "events/s on one core", "ratio (median, range)"],
    [
      ["`setQueryData` with the patched list (baseline)", `${base.toFixed(2)} µs`, Math.round(1e6 / base), "1"],
      [
        "`LiveQueryCache.apply` (binding, versions, cache lookup)",
        `${live.toFixed(2)} µs`,
        Math.round(1e6 / live),
        `**×${median(ratios).toFixed(2)}** (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
      ],
    ],
  ),
);
