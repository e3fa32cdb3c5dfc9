/**
 * Assembles an event layer from its parts. The embedded default keeps
 * everything in this process; other engines (Redis) plug in through the same
 * interfaces.
 */
import { replayedIn, type CatalogDefinitions } from "./catalog";
import { EventBus } from "./bus";
import { CursorSealer } from "./cursor-sealer";
import { EntitlementCache } from "./entitlement-cache";
import { ConnectionLimitError } from "./errors";
import type { EntitlementLookup, ResolvedSubscriber } from "./identity";
import type { EventLayerLogger } from "./logger";
import { silentLogger } from "./logger";
import type { Presence, PresenceListener } from "./presence";
import { PresenceAnnouncer } from "./presence-announcer";
import { RedisInstances } from "./instances-redis";
import { RedisPresence } from "./presence-redis";
import { MemoryPresence } from "./presence-memory";
import { ConnectionRegistry } from "./registry";
import { TenantCountersByOrganization } from "./tenant-counters";
import { Reauthorizer } from "./reauthorizer";
import { MemoryReplayLog } from "./replay-log-memory";
import { SealedSink } from "./sealed-sink";
import { Subscription, type SubscriptionOptions } from "./subscription";
import type { RedisClient } from "./redis-client";
import type { ReplayLog } from "./replay-log";
import { RedisReplayLog } from "./replay-log-redis";
import type { EventTransport } from "./transport";
import { MemoryTransport } from "./transport-memory";
import { RedisTransport } from "./transport-redis";

export interface EventLayerConfig {
  /** The events the layer carries: `catalog.definitions` from src/server/domain/catalog.ts. */
  catalog: CatalogDefinitions;
  /** Heartbeat interval of an open stream. */
  pingIntervalMs: number;
  /** The client reconnects after this much silence; must exceed the ping interval. */
  reconnectAfterInactivityMs: number;
  /** Events kept per audience (each organisation, user, session, broadcast). */
  retentionCount: number;
  retentionMs: number;
  /** Events kept across all audiences: the replay log's memory bound. */
  retentionTotal: number;
  maxConnections: number;
  maxConnectionsPerUser: number;
  maxConnectionsPerOrganization: number;
  maxPayloadBytes: number;
  /** Items a pulled stream holds before its subscription catches up from the log instead. */
  maxQueuedEventsPerConnection: number;
  /** 0 = entitlements are read only at connect. */
  reauthorizeIntervalMs: number;
  /** How long a user's entitlements are reused for new connections. */
  entitlementCacheMs: number;
  /**
   * The deployment's secret for sealing event ids (cursor-sealer.ts), the
   * same on every instance.
   */
  cursorSecret: string;
  /**
   * Presence deliveries per organisation and second: `presence.changed`
   * events are sent while events × the organisation's open connections stay
   * within it (at least one a second), the rest folded into one
   * `presence.many_changed` a second (0 = no limit).
   */
  presenceDeliveriesPerSecond: number;
}

export interface EventLayer {
  /**
   * Checks limits that span instances before a subscription opens (Redis);
   * throws ConnectionLimitError. The registry's own limits still apply.
   */
  admit?: (identity: ResolvedSubscriber) => Promise<void>;
  bus: EventBus;
  registry: ConnectionRegistry;
  presence: Presence;
  /** Users' entitlements, cached briefly; shared by connects and re-authorisation. */
  entitlements: EntitlementCache;
  reauthorizer: Reauthorizer;
  /** Seals every id that leaves the layer, and opens the cursors clients send back. */
  cursors: CursorSealer;
  config: EventLayerConfig;
  logger: EventLayerLogger;
  close(): Promise<void>;
}

/** Throws when the configuration cannot work, with the reason in words. */
export function assertValidConfig(config: EventLayerConfig): void {
  if (config.pingIntervalMs >= config.reconnectAfterInactivityMs) {
    throw new Error(
      `the ping interval (${config.pingIntervalMs} ms) must be below the reconnect-after-inactivity time (${config.reconnectAfterInactivityMs} ms), or every client reconnects between heartbeats`,
    );
  }
}

/** The engines a layer runs on: the embedded default, or Redis. */
export interface EventLayerEngines {
  log: ReplayLog;
  transport: EventTransport;
  /** Presence on these engines; in this process when absent. */
  presence?: (onChange: PresenceListener) => Presence;
  /** Ends the engines' connections, after the bus stopped. */
  close?: () => Promise<void>;
}

function assemble(
  config: EventLayerConfig,
  lookup: EntitlementLookup,
  logger: EventLayerLogger,
  engines: EventLayerEngines,
): EventLayer {
  assertValidConfig(config);
  const tenants = new TenantCountersByOrganization();
  const bus = new EventBus({
    catalog: config.catalog,
    log: engines.log,
    transport: engines.transport,
    maxPayloadBytes: config.maxPayloadBytes,
    logger,
    tenants,
  });
  const registry = new ConnectionRegistry(
    {
      maxConnections: config.maxConnections,
      maxConnectionsPerUser: config.maxConnectionsPerUser,
      maxConnectionsPerOrganization: config.maxConnectionsPerOrganization,
    },
    Date.now,
    tenants,
  );
  const announcer = new PresenceAnnouncer(
    bus,
    config.presenceDeliveriesPerSecond,
    (id) => registry.connectionsIn(id),
    logger,
  );
  const onPresenceChange: PresenceListener = (change) => announcer.announce(change);
  const presence = engines.presence ? engines.presence(onPresenceChange) : new MemoryPresence(onPresenceChange);
  const entitlements = new EntitlementCache(lookup, config.entitlementCacheMs);
  const reauthorizer = new Reauthorizer(config.reauthorizeIntervalMs, entitlements, logger);
  return {
    bus,
    registry,
    presence,
    entitlements,
    reauthorizer,
    cursors: new CursorSealer(config.cursorSecret),
    config,
    logger,
    close: async () => {
      announcer.flush();
      await bus.close();
      await engines.close?.();
    },
  };
}

/** The embedded default: bus, replay log, transport, registry and presence in this process. */
export function createMemoryEventLayer(
  config: EventLayerConfig,
  lookup: EntitlementLookup,
  logger: EventLayerLogger = silentLogger,
  /** Another replay log (the app's database log keeps history across restarts). */
  log?: ReplayLog,
): EventLayer {
  return assemble(config, lookup, logger, {
    log:
      log ??
      new MemoryReplayLog({
        maxEvents: config.retentionCount,
        maxAgeMs: config.retentionMs,
        maxTotalEvents: config.retentionTotal,
      }),
    transport: new MemoryTransport(),
  });
}

export interface RedisEngineOptions {
  /** Commands (emits, replays). Should fail fast while Redis is down, so an emit errors instead of waiting. */
  client: RedisClient;
  /** A connection of its own for the blocking tail of the event stream. */
  tail: RedisClient;
  prefix?: string;
  /** This instance's id in the cluster (presence, stats). */
  instanceId: string;
}

/**
 * Many instances on one Redis: one ordered event stream (ids assigned by
 * Redis), replay from Redis, so a cursor is valid on every instance, and
 * presence counted across instances (a dead instance's members go offline).
 * Connection caps are still per instance.
 */
export function createRedisEventLayer(
  config: EventLayerConfig,
  lookup: EntitlementLookup,
  logger: EventLayerLogger,
  redis: RedisEngineOptions,
): EventLayer & { start(): Promise<void>; instances: RedisInstances } {
  const prefix = redis.prefix ?? "{t3-live-events}:";
  const transport = new RedisTransport(redis.client, redis.tail, { prefix, logger });
  const instances = new RedisInstances(redis.client, {
    prefix,
    instanceId: redis.instanceId,
    describe: () => {
      const { totalConnections, clientsByUser, clientsByOrganization } = layer.registry.stats();
      return { totalConnections, users: Object.keys(clientsByUser).length, clientsByOrganization };
    },
  });
  let presence: RedisPresence | undefined;
  const layer = assemble(config, lookup, logger, {
    presence: (onChange) => (presence = new RedisPresence(redis.client, instances, prefix, onChange)),
    log: new RedisReplayLog(redis.client, {
      prefix: redis.prefix,
      maxEvents: config.retentionCount,
      maxAgeMs: config.retentionMs,
      maxTotalEvents: config.retentionTotal,
    }),
    transport,
    close: async () => {
      await instances.stop();
      redis.tail.disconnect();
      await redis.client.quit().catch(() => redis.client.disconnect());
    },
  });
  const admit = async (identity: ResolvedSubscriber) => {
    const counts = await presence!.clusterCounts(identity.userId, identity.organizationIds);
    if (counts.user >= config.maxConnectionsPerUser) {
      throw new ConnectionLimitError(
        `you already have ${config.maxConnectionsPerUser} open subscriptions (the per-user limit, across instances); close a tab or retry later`,
      );
    }
    for (const count of counts.organizations.values()) {
      if (count >= config.maxConnectionsPerOrganization) {
        throw new ConnectionLimitError(
          `your organisation already has ${config.maxConnectionsPerOrganization} open subscriptions (the per-organisation limit, across instances); retry later`,
        );
      }
    }
  };
  return Object.assign(layer, {
    admit,
    instances,
    /** Resolves once the tail is reading and this instance is announced. */
    start: async () => {
      await transport.ready;
      await instances.start();
    },
  });
}

export type OpenSubscriptionOptions = Pick<
  SubscriptionOptions,
  "identity" | "names" | "lastEventId" | "sink" | "expiresAt" | "signInActive"
>;

/**
 * Opens a subscription on `layer` with its engines, limits and
 * re-authorisation. `lastEventId` is a cursor as the client received it
 * (sealed), and every id written to `sink` is sealed.
 */
export async function openSubscription(layer: EventLayer, options: OpenSubscriptionOptions): Promise<Subscription> {
  const opened = options.lastEventId === null ? null : layer.cursors.open(options.lastEventId);
  await layer.admit?.(options.identity);
  return Subscription.open({
    ...options,
    lastEventId: opened,
    sink: new SealedSink(options.sink, layer.cursors, options.lastEventId, opened, replayedIn(layer.config.catalog)),
    bus: layer.bus,
    registry: layer.registry,
    presence: layer.presence,
    logger: layer.logger,
    maxPendingEvents: layer.config.maxQueuedEventsPerConnection,
    reauthorizer: layer.reauthorizer,
  });
}
