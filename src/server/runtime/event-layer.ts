/**
 * The app's event layer, built from the environment, and `bus`, the way
 * backend code publishes onto the runtime's layer:
 *
 *   import { bus } from "~/server/runtime/event-layer";
 *   await bus.emit("order.created", payload, { kind: "organization", organizationId });
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { Redis } from "ioredis";

import { env } from "~/env";
import {
  createMemoryEventLayer,
  createRedisEventLayer,
  redactRedisUrl,
  type RedisInstances,
  type EmittableEventName,
  type EventLayer,
  type EventLayerConfig,
  type EventPayload,
  type EventTarget,
} from "~/server/events";
import { developmentSecret } from "~/server/auth/development-secret";
import { catalog } from "~/server/domain/catalog";
import { db, getDatabase } from "~/server/db";
import { expectedFailures } from "~/server/platform/log-throttle";
import { logger } from "~/server/platform/logger";
import { runtime } from "~/server/runtime";
import { claimDatabaseLog } from "~/server/db/log-owner";
import { prismaSql } from "~/server/db/sql";
import { DatabaseReplayLog } from "~/server/events/replay-log-database";
import { prismaEntitlements } from "~/server/db/entitlements";

export function eventLayerConfigFromEnv(): EventLayerConfig {
  return {
    catalog: catalog.definitions,
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
    presenceDeliveriesPerSecond: env.EVENTS_PRESENCE_DELIVERIES_PER_SECOND,
    // Auth.js's secret (every instance shares it already); development makes one under .data/.
    // A production build has none (it is required at start): nothing is sealed while building.
    cursorSecret: env.AUTH_SECRET ?? (env.NODE_ENV === "production" ? "" : developmentSecret(env.AUTH_DEV_SECRET_FILE)),
  };
}

/** Redis connection errors seen by this process (the metrics endpoint reports them). */
export interface RedisErrorCounts {
  errors: number;
  connectionsLost: number;
}

/**
 * The two connections of the Redis engines: commands fail fast while Redis
 * is down (an emit errors at once instead of waiting), the tail's blocking
 * reads wait for it. Both reconnect by themselves.
 */
function redisConnections(url: string, redisErrors: RedisErrorCounts) {
  const common = {
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
  };
  const client = new Redis(url, { ...common, enableOfflineQueue: false });
  const tail = new Redis(url, common);
  for (const [name, connection] of [
    ["client", client],
    ["tail", tail],
  ] as const) {
    // A killed Redis closes the socket without an error; count the loss on its own.
    connection.on("close", () => redisErrors.connectionsLost++);
    connection.on("error", (error: Error) => {
      redisErrors.errors++;
      const line = expectedFailures.take(`redis:${name}`);
      if (line) logger.warn({ event: "redis.error", connection: name, message: error.message, ...line }, "redis error");
    });
  }
  return { client, tail };
}

/** Resolves when the connection is ready; rejects with its first error, or after 10 s. */
function whenReady(connection: Redis): Promise<void> {
  if (connection.status === "ready") return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer within 10 s")), 10_000);
    const done = (error?: Error) => {
      clearTimeout(timer);
      connection.off("ready", onReady);
      connection.off("error", done);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    connection.once("ready", onReady);
    connection.once("error", done);
    // Lazy connections start on their first command, or here.
    if (connection.status === "wait") connection.connect().catch(() => {});
  });
}

export type AppEventLayer = EventLayer & {
  /** Resolves once the engines are reachable; rejects, naming REDIS_URL, when they are not. */
  connect(): Promise<void>;
  /** The command connection, when the layer runs on Redis (shared rate limits use it too). */
  redis?: Redis;
  /** The deployment's instances, when the layer runs on Redis. */
  instances?: RedisInstances;
};

/** An instance's id: where it runs (host and process), and a random part for restarts of the same pid. */
export const newInstanceId = () => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/**
 * The app's event layer, from the environment: on Redis with REDIS_URL, else
 * in this process with its history in the database (or in memory).
 * `overrides` adjust the environment's configuration (tests).
 */
export function createEventLayer(
  overrides: Partial<EventLayerConfig> = {},
  redisErrors: RedisErrorCounts = { errors: 0, connectionsLost: 0 },
  /** This process among the deployment's instances (the runtime's id). */
  instanceId: string = newInstanceId(),
): AppEventLayer {
  const config = { ...eventLayerConfigFromEnv(), ...overrides };
  const eventsLogger = logger.child({ component: "events" });
  const url = env.REDIS_URL;
  if (!url) {
    // History in the database survives restarts; in memory it does not (tests, or by choice).
    const log =
      env.EVENTS_REPLAY_LOG === "database"
        ? new DatabaseReplayLog(
            prismaSql(db, () => getDatabase().statements()),
            { maxEvents: config.retentionCount, maxAgeMs: config.retentionMs, maxTotalEvents: config.retentionTotal },
          )
        : undefined;
    return Object.assign(createMemoryEventLayer(config, prismaEntitlements(db), eventsLogger, log), {
      connect: async () => {
        // The lock is held by a connection of its own for the life of the process.
        const url = env.DATABASE_URL;
        if (log && url) await claimDatabaseLog(url);
      },
    });
  }
  const { client, tail } = redisConnections(url, redisErrors);
  const layer = createRedisEventLayer(config, prismaEntitlements(db), eventsLogger, {
    client,
    tail,
    prefix: env.REDIS_KEY_PREFIX,
    instanceId,
  });
  return Object.assign(layer, {
    redis: client,
    connect: async () => {
      try {
        await Promise.all([whenReady(client), whenReady(tail)]);
        await layer.start();
      } catch (error) {
        client.disconnect();
        tail.disconnect();
        throw new Error(
          `cannot reach Redis at REDIS_URL=${redactRedisUrl(url)} (${(error as Error).message}); start Redis, fix REDIS_URL, or unset it to keep events in this process`,
        );
      }
    },
  });
}

/** The one way backend code publishes: validated against the catalog, addressed, resumable. */
export const bus = {
  emit<N extends EmittableEventName>(name: N, payload: EventPayload<N>, target: EventTarget) {
    return runtime().events.bus.emit(name, payload, target);
  },
};
