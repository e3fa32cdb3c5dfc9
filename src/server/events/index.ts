/**
 * The event layer's public surface. It depends on zod, Node and its own
 * files only; the app adapts it to tRPC, Auth.js and Prisma at the edges.
 */
export { EventBus, type EventBusStats } from "./bus";
export {
  coreEvents,
  defineCatalog,
  defineEvent,
  fields,
  type Catalog,
  type CatalogDefinitions,
  type EmittableEventName,
  type EventData,
  type EventDefinition,
  type EventName,
  type EventPayload,
} from "./catalog";
export type { EventEnvelope, LiveEvent, LiveEventOf, StreamItem } from "./envelope";
export type { EventDraft } from "./replay-log";
export * from "./errors";
export { compareEventIds, type EventId } from "./event-id";
export { CursorSealer, MAX_SEALED_CURSOR_LENGTH } from "./cursor-sealer";
export { EntitlementCache } from "./entitlement-cache";
export {
  parseTabId,
  subscriberOf,
  tabIdSchema,
  tabSessionId,
  type EntitlementLookup,
  type Entitlements,
  type ResolvedSubscriber,
  type SubscriberIdentity,
  type SubscriberSession,
} from "./identity";
export {
  assertValidConfig,
  createMemoryEventLayer,
  createRedisEventLayer,
  openSubscription,
  type EventLayer,
  type EventLayerConfig,
  type OpenSubscriptionOptions,
} from "./layer";
export type { EventLayerLogger } from "./logger";
export { redactRedisUrl, type RedisClient } from "./redis-client";
export type { InstanceInfo, RedisInstances } from "./instances-redis";
export type { OnlineMember, Presence, PresenceChange } from "./presence";
export type { ConnectionRecord, ConnectionStats } from "./registry";
export { Subscription, type SubscriptionOptions, type SubscriptionSink } from "./subscription";
export { SubscriptionStream } from "./subscription-stream";
export type { EventTarget } from "./targets";
export { DeliveryLag, LAG_BUCKETS_MS, lagQuantile } from "./delivery-lag";
export { TenantCounters, TenantCountersByOrganization } from "./tenant-counters";
