/**
 * The Prometheus metrics of this instance (prom-client), read at scrape time
 * from the counters the event layer, the SSE fast path and the outbox keep
 * anyway: nothing is added to the delivery path. Every instance exposes its
 * own; Prometheus sums them.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

import { db } from "~/server/db";
import { getEventLayer, redisErrors } from "~/server/event-layer";
import { processSingleton } from "~/server/process-singleton";
import { getSseFastPath } from "~/server/sse/holder";

/** A counter whose value is read from `read` at scrape time. */
function counterOf(registry: Registry, name: string, help: string, read: () => number | Promise<number>) {
  return new Counter({
    name,
    help,
    registers: [registry],
    async collect() {
      this.reset();
      this.inc(await read());
    },
  });
}

function create(): Registry {
  const registry = new Registry();
  // Event-loop lag (nodejs_eventloop_lag_*), heap, GC, handles: prom-client's defaults.
  collectDefaultMetrics({ register: registry });
  const layer = () => getEventLayer();
  const connections = () => layer().registry.stats();

  new Gauge({
    name: "live_events_open_streams",
    help: "Open events.onEvent subscriptions on this instance",
    registers: [registry],
    collect() {
      this.set(connections().totalConnections);
    },
  });
  counterOf(
    registry,
    "live_events_streams_opened_total",
    "Subscriptions opened",
    () => connections().connectionsOpened,
  );
  counterOf(
    registry,
    "live_events_streams_rejected_total",
    "Subscriptions refused (limits, authorisation)",
    () => connections().connectionsRejected,
  );
  counterOf(
    registry,
    "live_events_emits_total",
    "Events published by this instance",
    async () => (await layer().bus.stats()).emitted,
  );
  counterOf(
    registry,
    "live_events_emits_rejected_total",
    "Emits refused by the catalog",
    async () => (await layer().bus.stats()).rejected,
  );
  counterOf(
    registry,
    "live_events_deliveries_total",
    "Events handed to subscribers of this instance",
    async () => (await layer().bus.stats()).delivered,
  );
  counterOf(
    registry,
    "live_events_replay_resumes_total",
    "Resumes from a cursor served from the log",
    () => connections().resumes,
  );
  counterOf(
    registry,
    "live_events_replayed_events_total",
    "Events replayed to resuming subscribers",
    () => connections().eventsReplayed,
  );
  const gaps = new Counter({
    name: "live_events_replay_gaps_total",
    help: "Resumes answered with system.gap",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      gaps.reset();
      for (const [reason, count] of Object.entries(connections().gaps)) gaps.inc({ reason }, count);
    },
  });
  const sse = () => getSseFastPath()?.hub.stats();
  counterOf(
    registry,
    "live_events_slow_consumer_disconnects_total",
    "Streams closed because their backlog passed the limit",
    () => sse()?.slowConsumerDisconnects ?? 0,
  );
  counterOf(
    registry,
    "live_events_stalled_disconnects_total",
    "Streams closed because their socket accepted nothing for too long",
    () => sse()?.stalledDisconnects ?? 0,
  );
  const redis = new Counter({
    name: "live_events_redis_errors_total",
    help: "Redis connection errors (kind=error) and lost connections (kind=connection_lost)",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      redis.reset();
      redis.inc({ kind: "error" }, redisErrors.errors);
      redis.inc({ kind: "connection_lost" }, redisErrors.connectionsLost);
    },
  });
  new Gauge({
    name: "live_events_outbox_pending",
    help: "Committed outbox rows not yet published",
    registers: [registry],
    async collect() {
      this.set(await db.outboxEvent.count({ where: { publishedAt: null } }));
    },
  });
  return registry;
}

/** The process's metrics registry. */
export function metricsRegistry(): Registry {
  return processSingleton("metrics-registry", create);
}
