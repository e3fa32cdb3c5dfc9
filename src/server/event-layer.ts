/**
 * The process's event layer, built from the environment. Next.js evaluates
 * modules once per route bundle, and the tRPC route, webhooks and jobs must
 * all publish onto one bus, so the layer is a globalThis singleton.
 *
 *   import { bus } from "~/server/event-layer";
 *   await bus.emit("order.created", payload, { kind: "organization", organizationId });
 */
import { env } from "~/env";
import {
  createMemoryEventLayer,
  type EmittableEventName,
  type EventLayer,
  type EventLayerConfig,
  type EventPayload,
  type EventTarget,
} from "~/server/events";
import { db } from "~/server/db";
import { logger } from "~/server/logger";
import { prismaEntitlements } from "~/server/subscribers";

export function eventLayerConfigFromEnv(): EventLayerConfig {
  return {
    pingIntervalMs: env.EVENTS_PING_INTERVAL_MS,
    reconnectAfterInactivityMs: env.EVENTS_RECONNECT_AFTER_INACTIVITY_MS,
    retentionCount: env.EVENTS_RETENTION_COUNT,
    retentionMs: env.EVENTS_RETENTION_MS,
    retentionTotal: env.EVENTS_RETENTION_TOTAL,
    maxConnections: env.EVENTS_MAX_CONNECTIONS,
    maxConnectionsPerUser: env.EVENTS_MAX_CONNECTIONS_PER_USER,
    maxConnectionsPerOrganization: env.EVENTS_MAX_CONNECTIONS_PER_ORGANIZATION,
    maxPayloadBytes: env.EVENTS_MAX_PAYLOAD_BYTES,
    maxQueuedEventsPerConnection: 1_000,
    reauthorizeIntervalMs: env.EVENTS_REAUTHORIZE_INTERVAL_MS,
    entitlementCacheMs: env.EVENTS_ENTITLEMENT_CACHE_MS,
  };
}

/** A layer with this process's logger; `overrides` adjust the environment's configuration (tests). */
export function createEventLayer(overrides: Partial<EventLayerConfig> = {}): EventLayer {
  return createMemoryEventLayer(
    { ...eventLayerConfigFromEnv(), ...overrides },
    prismaEntitlements(db),
    logger.child({ component: "events" }),
  );
}

const globalForEvents = globalThis as unknown as { __t3LiveEvents?: EventLayer };

export function getEventLayer(): EventLayer {
  return (globalForEvents.__t3LiveEvents ??= createEventLayer());
}

/** Replaces the process-wide layer (tests). Returns the previous one. */
export function setEventLayer(layer: EventLayer): EventLayer | undefined {
  const previous = globalForEvents.__t3LiveEvents;
  globalForEvents.__t3LiveEvents = layer;
  return previous;
}

/** The one way backend code publishes: validated against the catalog, addressed, resumable. */
export const bus = {
  emit<N extends EmittableEventName>(name: N, payload: EventPayload<N>, target: EventTarget) {
    return getEventLayer().bus.emit(name, payload, target);
  },
};
