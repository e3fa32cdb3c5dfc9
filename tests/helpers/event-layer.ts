/**
 * The event layer in memory for unit tests: a bus with its engines, a quiet
 * logger that can record, identities, and a subscription read like a client.
 */
import {
  createMemoryEventLayer,
  Subscription,
  SubscriptionStream,
  type EntitlementLookup,
  type EventLayer,
  type EventLayerConfig,
  type EventLayerLogger,
  type ResolvedSubscriber,
  type StreamItem,
  type SubscriptionOptions,
} from "~/server/events";
import { catalog } from "~/server/domain/catalog";
import { waitUntil } from "./wait";

export const testLayerConfig: EventLayerConfig = {
  catalog: catalog.definitions,
  pingIntervalMs: 1_000,
  reconnectAfterInactivityMs: 3_000,
  retentionCount: 100,
  retentionMs: 60_000,
  retentionTotal: 10_000,
  maxConnections: 10,
  maxConnectionsPerUser: 10,
  maxConnectionsPerOrganization: 1_000,
  maxPayloadBytes: 16_384,
  maxQueuedEventsPerConnection: 1_000,
  cursorSecret: "test-cursor-secret",
  reauthorizeIntervalMs: 0,
  entitlementCacheMs: 0,
  presenceDeliveriesPerSecond: 20_000,
};

/** A logger that keeps what it was told (`events`: the `event` field of each line). */
export function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>) => void lines.push({ level, fields });
  const logger: EventLayerLogger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return {
    logger,
    lines,
    events: (level?: string) => lines.filter((l) => !level || l.level === level).map((l) => String(l.fields.event)),
  };
}

/** Entitlements for the users `identity()` makes: everyone is a MEMBER of acme. */
export const testEntitlements: EntitlementLookup = async (userId) => ({
  userId,
  userName: userId.toUpperCase(),
  organizationIds: ["acme"],
  metadata: { role: "MEMBER" },
});

export function memoryLayer(
  overrides: Partial<EventLayerConfig> = {},
  logger?: EventLayerLogger,
  entitlements: EntitlementLookup = testEntitlements,
): EventLayer {
  return createMemoryEventLayer({ ...testLayerConfig, ...overrides }, entitlements, logger);
}

export function identity(
  userId: string,
  organizationIds: string[] = ["acme"],
  extra: Partial<ResolvedSubscriber> = {},
): ResolvedSubscriber {
  return {
    userId,
    userName: userId.toUpperCase(),
    sessionId: `${userId}-s.tab`,
    signInSessionId: `${userId}-s`,
    organizationIds,
    metadata: { role: "MEMBER" },
    ...extra,
  };
}

type OpenOptions = Partial<Omit<SubscriptionOptions, "bus" | "registry" | "presence" | "sink">> & {
  highWaterMark?: number;
};

/** Opens a subscription on `layer` and reads it in the background, like a client. */
export async function readSubscription(layer: EventLayer, options: OpenOptions = {}) {
  const controller = new AbortController();
  const stream = new SubscriptionStream(options.highWaterMark ?? layer.config.maxQueuedEventsPerConnection);
  const subscription = await Subscription.open({
    bus: layer.bus,
    registry: layer.registry,
    presence: layer.presence,
    logger: options.logger ?? layer.logger,
    identity: options.identity ?? identity("bob"),
    names: options.names ?? null,
    lastEventId: options.lastEventId ?? null,
    maxPendingEvents: options.maxPendingEvents ?? layer.config.maxQueuedEventsPerConnection,
    reauthorizer: layer.reauthorizer,
    expiresAt: options.expiresAt,
    sink: stream,
  });
  stream.attach(subscription, controller.signal);
  const received: StreamItem[] = [];
  let failure: unknown;
  // An object, so the reader below sees the promise `pause` puts there.
  const gate: { paused: Promise<void> | null; open: () => void } = { paused: null, open: () => {} };
  const done = (async () => {
    try {
      for await (const item of stream) {
        received.push(item);
        if (gate.paused) await gate.paused;
      }
    } catch (error) {
      failure = error;
    }
  })();
  return {
    subscription,
    received,
    ids: () => received.filter((r) => !r.event.name.startsWith("system.")).map((r) => r.id),
    names: () => received.map((r) => r.event.name),
    waitFor: (predicate: (all: StreamItem[]) => boolean, what: string) =>
      waitUntil(() => predicate(received), what, { timeoutMs: 5_000, intervalMs: 5 }),
    /** Stops reading after the next item (a slow consumer) until `resume` is called. */
    pause: () => {
      gate.paused = new Promise<void>((resolve) => (gate.open = resolve));
    },
    resume: () => {
      gate.paused = null;
      gate.open();
    },
    failure: () => failure,
    ended: () => done,
    close: async () => {
      controller.abort();
      await done;
    },
  };
}
