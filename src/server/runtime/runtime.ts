/**
 * The composition root: everything the process shares is built here, once.
 * Read it with `runtime()` (src/server/runtime/index.ts); `createRuntime` is
 * called by src/instrumentation.ts when the server starts, and by tests.
 *
 * Parts are made on first use, in dependency order, so `next build` (which
 * imports route modules but serves nothing) opens no database and no socket.
 * `start()` then connects the engines and starts the background work.
 */
import type { Redis } from "ioredis";
import type { Registry } from "prom-client";

import type { PrismaClient } from "~/generated/prisma/client";

import { env } from "~/env";
import { appRouter, streamProcedures } from "~/server/api/root";
import { createStreamContext, errorShapeOf, isLiveStream, sseClientOptions } from "~/server/api/trpc";
import { demoLoginEnabled } from "~/server/auth/config";
import type { SessionCacheEntry } from "~/server/auth/session-cache";
import { endedHere, type SignInCheck } from "~/server/auth/sign-in-sessions";
import { db, openDatabase, type DatabaseHandle } from "~/server/db";
import { createOutboxRelay, wakeOnCommit, type OutboxRelay } from "~/server/db/outbox";
import { startEscrowReleaseJob } from "~/server/domain/escrow-release";
import type { EventLayer, EventLayerConfig } from "~/server/events";
import { listenToControl } from "~/server/platform/cluster-control";
import { connectionsRequestHandlers } from "~/server/platform/console-connections";
import { historyRequestHandlers } from "~/server/platform/console-history";
import { ConsoleTimeline } from "~/server/platform/console-timeline";
import { LogThrottle } from "~/server/platform/log-throttle";
import { logger } from "~/server/platform/logger";
import { createMetricsRegistry } from "~/server/platform/metrics";
import { createRateLimiters, type RateLimiters, type RateLimitRefusals } from "~/server/platform/rate-limits";
import { createSseFastPath, type SseFastPath, type StreamApi } from "~/server/transport/fast-path";
import { createTrpcNodeHandler, type NodeRequestHandler } from "~/server/transport/trpc-node";
import { createEventLayer, newInstanceId, type AppEventLayer, type RedisErrorCounts } from "./event-layer";
import packageJson from "../../../package.json";

/** What the console shows as this instance's version. */
const appVersion = env.APP_VERSION ?? packageJson.version;

export interface Runtime {
  /** This process among the deployment's instances. */
  readonly instanceId: string;
  /** The database (Prisma, and the driver underneath), opened on first use. */
  readonly database: DatabaseHandle;
  /** The event layer: bus, registry, presence, replay log, cursors. */
  readonly events: AppEventLayer;
  /** The layer's Redis command connection, or null on the embedded default. */
  readonly redis: Redis | null;
  readonly redisErrors: RedisErrorCounts;
  readonly limiters: RateLimiters;
  readonly rateLimitRefusals: RateLimitRefusals;
  /** The relay of the app's database. */
  readonly outbox: OutboxRelay;
  /** The relay of a database: the app's, or another client's (tests, scripts), made on first use. */
  outboxFor(client: PrismaClient): OutboxRelay;
  readonly metrics: Registry;
  /** The operator console's per-second figures (started with the runtime). */
  readonly console: ConsoleTimeline;
  /** Expected failures (bad cookies, refused requests) are logged at most once per key and minute. */
  readonly expectedFailures: LogThrottle;
  /** Decoded session tokens by digest (src/server/auth/session-cache.ts). */
  readonly sessionCache: Map<string, SessionCacheEntry>;
  /** Sign-in checks by sign-in id (src/server/auth/sign-in-sessions.ts). */
  readonly signInChecks: Map<string, SignInCheck>;
  /** Serves live streams onto Node's response (server.ts hands them over). */
  readonly sse: SseFastPath;
  /** tRPC queries and mutations straight from Node's request (server.ts, in production). */
  readonly trpcNode: NodeRequestHandler;
  /** The API whose subscriptions the fast path serves: in development, the one Next compiled last. */
  mountApi(api: StreamApi): void;
  /** Connects the engines and starts the relay, the jobs and the control channel; rejects naming what is unreachable. */
  start(): Promise<void>;
  /** Replaces the event layer (tests); returns the previous one. */
  useEventLayer(layer: EventLayer): EventLayer | undefined;
}

/** The app's tRPC API as the fast path serves it. */
export const appStreamApi = (): StreamApi => ({
  router: appRouter,
  streamProcedures,
  createContext: createStreamContext,
  errorShape: errorShapeOf,
  isLiveStream,
  sseClientOptions,
});

/** Builds the process's runtime; `eventLayer` overrides adjust the environment's configuration (tests). */
export function createRuntime(options: { eventLayer?: Partial<EventLayerConfig> } = {}): Runtime {
  const once = <T>(make: () => T) => {
    let made: { value: T } | null = null;
    return () => (made ??= { value: make() }).value;
  };
  const redisErrors: RedisErrorCounts = { errors: 0, connectionsLost: 0 };
  let events: EventLayer | undefined;
  const instanceId = newInstanceId();
  const eventLayer = () => (events ??= createEventLayer(options.eventLayer, redisErrors, instanceId)) as AppEventLayer;
  const database = once(openDatabase);
  const limiters = once(() => createRateLimiters(eventLayer().redis ?? null));
  const relays = new Map<PrismaClient, OutboxRelay>();
  const outboxFor = (client: PrismaClient) => {
    // `db` (src/server/db) stands for the app's client.
    const real = client === db ? database().prisma : client;
    let relay = relays.get(real);
    if (!relay) relays.set(real, (relay = createOutboxRelay(real)));
    return relay;
  };
  const outbox = () => outboxFor(database().prisma);
  let api = appStreamApi();
  const sse = once(() =>
    createSseFastPath({
      api: () => api,
      pingIntervalMs: env.EVENTS_PING_INTERVAL_MS,
      maxBacklogBytes: env.EVENTS_MAX_BACKLOG_BYTES,
      stallTimeoutMs: env.EVENTS_STALL_TIMEOUT_MS,
      logger: logger.child({ component: "sse" }),
    }),
  );
  const trpcNode = once(createTrpcNodeHandler);
  let started: Promise<void> | null = null;

  const runtime: Runtime = {
    instanceId,
    get database() {
      return database();
    },
    get events() {
      return eventLayer();
    },
    get redis() {
      return eventLayer().redis ?? null;
    },
    redisErrors,
    get limiters() {
      return limiters();
    },
    rateLimitRefusals: { emit: 0, stream_open: 0, sign_in: 0 },
    get outbox() {
      return outbox();
    },
    outboxFor,
    get metrics() {
      return metrics();
    },
    get console() {
      return consoleTimeline();
    },
    expectedFailures: new LogThrottle(60_000),
    sessionCache: new Map(),
    signInChecks: new Map(),
    get sse() {
      return sse();
    },
    get trpcNode() {
      return trpcNode();
    },
    mountApi(next) {
      api = next;
    },
    start() {
      return (started ??= start());
    },
    useEventLayer(layer) {
      const previous = events;
      events = layer;
      return previous;
    },
  };
  const metrics = once(() => createMetricsRegistry(runtime));
  const consoleTimeline = once(() => new ConsoleTimeline(runtime, { version: appVersion }));

  async function start(): Promise<void> {
    await eventLayer().connect?.();
    // Sign-ins ended on another instance end their streams here too.
    await listenToControl({
      signInsEnded: (message) => endedHere(message.sessionIds, message.reason),
      requests: { ...connectionsRequestHandlers, ...historyRequestHandlers },
    });
    if (demoLoginEnabled && env.NODE_ENV === "production") {
      logger.warn(
        { event: "auth.demo_login_enabled" },
        "AUTH_DEMO_LOGIN=true in production: anyone can sign in as a demo user with the password 'demo'",
      );
    }
    // Publishes what committed transactions recorded, including rows a crash left behind.
    const relay = outbox();
    relay.start();
    if (env.DATABASE_URL && env.OUTBOX_RELAY) await wakeOnCommit(env.DATABASE_URL, relay);
    startEscrowReleaseJob(env.ESCROW_JOB_INTERVAL_MS);
    consoleTimeline().start();
  }

  return runtime;
}
