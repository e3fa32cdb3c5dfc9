/**
 * The Prometheus metrics of this instance (prom-client), read at scrape time
 * from the counters the event layer, the SSE fast path and the outbox keep
 * anyway: nothing is added to the delivery path. Every instance exposes its
 * own; Prometheus sums them.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

import { LAG_BUCKETS_MS } from "~/server/events";
import type { Runtime } from "~/server/runtime";

/**
 * One reading of the layer's counters for a whole scrape.
 */
function readings(runtime: Runtime) {
  const layer = runtime.events;
  const sse = runtime.sse.hub.stats();
  return {
    connections: layer.registry.counters(),
    bus: layer.bus.totals(),
    slowConsumerDisconnects: sse.slowConsumerDisconnects,
    stalledDisconnects: sse.stalledDisconnects,
  };
}
type Readings = ReturnType<typeof readings>;

/** The process's registry: the runtime makes it once, on first scrape. */
export function createMetricsRegistry(runtime: Runtime): Registry {
  const registry = new Registry();
  // Event-loop lag (nodejs_eventloop_lag_*), heap, GC, handles: prom-client's defaults.
  collectDefaultMetrics({ register: registry });
  let taken: { at: number; value: Readings } | null = null;
  const read = (): Readings => {
    const now = Date.now();
    if (!taken || now - taken.at > 1_000) taken = { at: now, value: readings(runtime) };
    return taken.value;
  };

  /** A counter set from `value` at scrape time; a record is one series per key of `label`. */
  const counter = (
    name: string,
    help: string,
    value: (r: Readings) => number | Record<string, number>,
    label?: string,
  ) => {
    const metric: Counter = new Counter({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      collect() {
        metric.reset();
        const current = value(read());
        if (typeof current === "number") metric.inc(current);
        else for (const [key, count] of Object.entries(current)) metric.inc({ [label!]: key }, count);
      },
    });
  };

  new Gauge({
    name: "live_events_open_streams",
    help: "Open events.onEvent subscriptions on this instance",
    registers: [registry],
    collect() {
      this.set(read().connections.open);
    },
  });
  counter("live_events_streams_opened_total", "Subscriptions opened", (r) => r.connections.opened);
  counter(
    "live_events_streams_rejected_total",
    "Subscriptions refused (limits, authorisation)",
    (r) => r.connections.rejected,
  );
  counter(
    "live_events_emits_total",
    "Events published to history (the replay log) by this instance",
    (r) => r.bus.emitted,
  );
  counter(
    "live_events_signals_total",
    "State events (presence, console samples) published live only, without history",
    (r) => r.bus.signalled,
  );
  counter(
    "live_events_stream_writes_total",
    "Events written to this instance's streams, live and replayed",
    (r) => r.connections.eventsSent,
  );
  counter(
    "live_events_rate_limited_total",
    "Requests refused by a rate limit, by what was refused",
    () => ({ ...runtime.rateLimitRefusals }),
    "limit",
  );
  // The lag histogram's cumulative buckets as Prometheus reads histograms (`le`), from the bus's own counts.
  const lagBuckets = new Counter({
    name: "live_events_delivery_lag_ms_bucket",
    help: "Deliveries by milliseconds from emit to socket write (cumulative buckets, as a histogram's)",
    labelNames: ["le"],
    registers: [registry],
    collect() {
      lagBuckets.reset();
      const counts = runtime.events.bus.lag.counts;
      let cumulative = 0;
      LAG_BUCKETS_MS.forEach((bound, i) => {
        cumulative += counts[i]!;
        lagBuckets.inc({ le: Number.isFinite(bound) ? String(bound) : "+Inf" }, cumulative);
      });
    },
  });
  counter("live_events_delivery_lag_ms_sum", "Sum of delivery lags (ms)", () => runtime.events.bus.lag.sumMs);
  counter("live_events_delivery_lag_ms_count", "Deliveries whose lag was measured", () =>
    runtime.events.bus.lag.counts.reduce((a, b) => a + b, 0),
  );
  counter("live_events_emits_rejected_total", "Emits refused by the catalog", (r) => r.bus.rejected);
  counter("live_events_deliveries_total", "Events handed to subscribers of this instance", (r) => r.bus.delivered);
  counter(
    "live_events_replay_resumes_total",
    "Resumes from a cursor served from the log",
    (r) => r.connections.resumes,
  );
  counter(
    "live_events_replayed_events_total",
    "Events replayed to resuming subscribers",
    (r) => r.connections.eventsReplayed,
  );
  counter(
    "live_events_replay_gaps_total",
    "Resumes answered with system.gap",
    (r) => ({ ...r.connections.gaps }),
    "reason",
  );
  counter(
    "live_events_slow_consumer_disconnects_total",
    "Streams closed because their backlog passed the limit",
    (r) => r.slowConsumerDisconnects,
  );
  counter(
    "live_events_stalled_disconnects_total",
    "Streams closed because their socket accepted nothing for too long",
    (r) => r.stalledDisconnects,
  );
  counter(
    "live_events_redis_errors_total",
    "Redis connection errors (kind=error) and lost connections (kind=connection_lost)",
    () => ({ error: runtime.redisErrors.errors, connection_lost: runtime.redisErrors.connectionsLost }),
    "kind",
  );
  new Gauge({
    name: "live_events_outbox_pending",
    help: "Committed outbox rows not yet published",
    registers: [registry],
    async collect() {
      this.set(await runtime.database.prisma.outboxEvent.count({ where: { publishedAt: null } }));
    },
  });
  return registry;
}
