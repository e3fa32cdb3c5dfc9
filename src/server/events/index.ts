/**
 * The process-wide event layer and the helpers backend code calls.
 *
 *   import { bus, notifyUser, notifyOrg, broadcast } from "~/server/events";
 *   await notifyOrg(order.organizationId, "order.created", { orderId, title, total, currency });
 */
import { env } from "~/env";
import { logger } from "~/server/logger";

import { EventBus } from "./bus";
import type { EmittableEventName, EventPayload } from "./catalog";
import type { EventTarget } from "./targets";
import { ConnectionRegistry } from "./registry";
import { InMemoryReplayLog } from "./replay-log";
import { InProcessTransport } from "./transport";

export interface EventLayerConfig {
  pingIntervalMs: number;
  reconnectAfterInactivityMs: number;
  retentionCount: number;
  retentionMs: number;
  maxConnections: number;
  maxConnectionsPerUser: number;
  maxPayloadBytes: number;
  maxQueuedEventsPerConnection: number;
  reauthorizeIntervalMs: number;
}

export interface EventLayer {
  bus: EventBus;
  registry: ConnectionRegistry;
  config: EventLayerConfig;
}

export function eventLayerConfigFromEnv(): EventLayerConfig {
  if (env.EVENTS_PING_INTERVAL_MS >= env.EVENTS_RECONNECT_AFTER_INACTIVITY_MS) {
    // tRPC would otherwise fail every subscription at run time with a less clear message.
    throw new Error(
      `EVENTS_PING_INTERVAL_MS (${env.EVENTS_PING_INTERVAL_MS}) must be below EVENTS_RECONNECT_AFTER_INACTIVITY_MS (${env.EVENTS_RECONNECT_AFTER_INACTIVITY_MS}), or every client reconnects between heartbeats`,
    );
  }
  return {
    pingIntervalMs: env.EVENTS_PING_INTERVAL_MS,
    reconnectAfterInactivityMs: env.EVENTS_RECONNECT_AFTER_INACTIVITY_MS,
    retentionCount: env.EVENTS_RETENTION_COUNT,
    retentionMs: env.EVENTS_RETENTION_MS,
    maxConnections: env.EVENTS_MAX_CONNECTIONS,
    maxConnectionsPerUser: env.EVENTS_MAX_CONNECTIONS_PER_USER,
    maxPayloadBytes: env.EVENTS_MAX_PAYLOAD_BYTES,
    maxQueuedEventsPerConnection: 1_000,
    reauthorizeIntervalMs: env.EVENTS_REAUTHORIZE_INTERVAL_MS,
  };
}

/** Builds an in-process event layer (embedded default: one Node process). */
export function createEventLayer(config: EventLayerConfig): EventLayer {
  const bus = new EventBus({
    log: new InMemoryReplayLog({ maxEvents: config.retentionCount, maxAgeMs: config.retentionMs }),
    transport: new InProcessTransport(),
    maxPayloadBytes: config.maxPayloadBytes,
    logger: logger.child({ component: "events" }),
  });
  const registry = new ConnectionRegistry(
    { maxConnections: config.maxConnections, maxConnectionsPerUser: config.maxConnectionsPerUser },
    (change) => {
      bus
        .emit(
          "presence.changed",
          { organizationId: change.organizationId, userId: change.userId, name: change.userName, online: change.online },
          { kind: "organization", organizationId: change.organizationId },
        )
        .catch((error: unknown) => logger.error({ event: "presence.failed", err: error }, "presence event failed"));
    },
  );
  return { bus, registry, config };
}

// One layer per process: Next.js evaluates modules once per route bundle, and
// the tRPC route, webhooks and jobs must all publish onto the same bus.
const globalForEvents = globalThis as unknown as { __t3LiveEvents?: EventLayer };

export function getEventLayer(): EventLayer {
  return (globalForEvents.__t3LiveEvents ??= createEventLayer(eventLayerConfigFromEnv()));
}

/** Replaces the process-wide layer (tests). Returns the previous one. */
export function setEventLayer(layer: EventLayer): EventLayer | undefined {
  const previous = globalForEvents.__t3LiveEvents;
  globalForEvents.__t3LiveEvents = layer;
  return previous;
}

export const bus = {
  emit<N extends EmittableEventName>(name: N, payload: EventPayload<N>, target: EventTarget) {
    return getEventLayer().bus.emit(name, payload, target);
  },
};

export function notifyUser<N extends EmittableEventName>(userId: string, name: N, payload: EventPayload<N>) {
  return getEventLayer().bus.emit(name, payload, { kind: "user", userId });
}

export function notifySession<N extends EmittableEventName>(sessionId: string, name: N, payload: EventPayload<N>) {
  return getEventLayer().bus.emit(name, payload, { kind: "session", sessionId });
}

export function notifyOrg<N extends EmittableEventName>(organizationId: string, name: N, payload: EventPayload<N>) {
  return getEventLayer().bus.emit(name, payload, { kind: "organization", organizationId });
}

/** seeds/002 `notifyWithMetadata`: subscribers whose server-side metadata matches every pair. */
export function notifyWithMetadata<N extends EmittableEventName>(
  match: Record<string, string>,
  name: N,
  payload: EventPayload<N>,
  options: { organizationId?: string } = {},
) {
  return getEventLayer().bus.emit(name, payload, { kind: "metadata", match, organizationId: options.organizationId });
}

export function broadcast<N extends EmittableEventName>(name: N, payload: EventPayload<N>) {
  return getEventLayer().bus.emit(name, payload, { kind: "broadcast" });
}

export type { EventTarget } from "./targets";
export type { LiveEvent, LiveEventOf } from "./envelope";
export type { EventName, EmittableEventName, EventPayload, EventData } from "./catalog";
