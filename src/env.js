import { createEnv } from "@t3-oss/env-nextjs";
import { z } from "zod";

// Secrets are required when the server starts, not when it is built (next.config.js sets the phase).
const running = process.env.NODE_ENV === "production" && process.env.NEXT_PHASE !== "phase-production-build";

// One boolean syntax for every switch: "true" or "false".
const bool = z
  .enum(["true", "false"], { error: (issue) => `expected "true" or "false", got ${JSON.stringify(issue.input)}` })
  .transform((v) => v === "true");
/** @param {number} fallback */
const ms = (fallback) => z.coerce.number().int().positive().default(fallback);

export const env = createEnv({
  server: {
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    // The HTTP server (server.ts): where it listens (`npm start -- -p 4000` overrides PORT).
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    HOSTNAME: z.string().min(1).optional(),
    // How many proxies of ours append to X-Forwarded-For in front of the server (0: clients connect directly).
    TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
    // On SIGTERM: how long open requests may take to finish, and how fast ended streams are asked back.
    EVENTS_SHUTDOWN_TIMEOUT_MS: ms(10_000),
    EVENTS_DRAIN_RECONNECTS_PER_SECOND: z.coerce.number().positive().default(250),
    // Without DATABASE_URL the app runs on embedded PGlite under PGLITE_DATA_DIR.
    DATABASE_URL: z.string().url().optional(),
    PGLITE_DATA_DIR: z.string().default(".data/pglite"),
    AUTH_SECRET: running ? z.string().min(32) : z.string().min(1).optional(),
    // Credentials "demo login" (alice/bob/carol). On in development and test,
    // off in production unless explicitly enabled.
    AUTH_DEMO_LOGIN: bool.optional(),
    // How long a sign-in lasts without being refreshed (Auth.js session maxAge, seconds).
    AUTH_SESSION_MAX_AGE_S: z.coerce
      .number()
      .int()
      .positive()
      .default(30 * 24 * 60 * 60),
    // Where development keeps its generated secret when AUTH_SECRET is unset.
    AUTH_DEV_SECRET_FILE: z.string().default(".data/auth-secret"),
    // The SSE fast path reuses a decoded session token this long (0 = decode on every connect).
    AUTH_SESSION_CACHE_MS: z.coerce.number().int().nonnegative().default(5_000),
    AUTH_GITHUB_ID: z.string().optional(),
    AUTH_GITHUB_SECRET: z.string().optional(),
    AUTH_DISCORD_ID: z.string().optional(),
    AUTH_DISCORD_SECRET: z.string().optional(),
    PAYMENTS_WEBHOOK_SECRET: z.string().min(16).optional(),
    EVENTS_PING_INTERVAL_MS: ms(15_000),
    EVENTS_RECONNECT_AFTER_INACTIVITY_MS: ms(45_000),
    EVENTS_RETENTION_COUNT: ms(1_000),
    EVENTS_RETENTION_MS: ms(15 * 60_000),
    EVENTS_RETENTION_TOTAL: ms(100_000),
    EVENTS_MAX_CONNECTIONS: ms(10_000),
    EVENTS_MAX_CONNECTIONS_PER_USER: ms(10),
    EVENTS_MAX_CONNECTIONS_PER_ORGANIZATION: ms(2_000),
    EVENTS_MAX_PAYLOAD_BYTES: ms(16 * 1024),
    // Open subscriptions re-read their entitlements this often (0 = only at connect).
    EVENTS_REAUTHORIZE_INTERVAL_MS: z.coerce.number().int().nonnegative().default(60_000),
    // The SSE fast path: bytes a stream may have queued before its client is
    // disconnected (it resumes from its last id), and how long a socket may
    // take nothing before it is closed.
    EVENTS_MAX_BACKLOG_BYTES: ms(1024 * 1024),
    EVENTS_STALL_TIMEOUT_MS: ms(30_000),
    // tRPC's stock handler may serve a stream that asks for it (`x-events-transport: trpc`): comparisons only.
    EVENTS_ALLOW_STOCK_SSE: bool.default(false),
    // A user's organisations and roles are reused this long for new streams (0 = read on every connect).
    EVENTS_ENTITLEMENT_CACHE_MS: z.coerce.number().int().nonnegative().default(5_000),
    // Presence deliveries per organisation and second (events × open connections of the organisation);
    // past it, one presence.many_changed per second instead of each presence.changed (0 = no limit).
    EVENTS_PRESENCE_DELIVERIES_PER_SECOND: z.coerce.number().int().nonnegative().default(2_000),
    // Several instances share one event stream on Redis; unset = everything in this process.
    REDIS_URL: z.string().url().optional(),
    REDIS_KEY_PREFIX: z.string().min(1).default("{t3-live-events}:"),
    // GET /api/metrics (Prometheus) with `Authorization: Bearer <token>`; unset = no endpoint.
    METRICS_TOKEN: z.string().min(16).optional(),
    APP_VERSION: z.string().min(1).max(64).optional(),
    // Without Redis: the replay history in the database (survives restarts) or in memory.
    EVENTS_REPLAY_LOG: z.enum(["database", "memory"]).default("database"),
    // The outbox relay publishes committed events; false: this process only records them.
    OUTBOX_RELAY: bool.default(true),
    OUTBOX_POLL_MS: z.coerce.number().int().nonnegative().default(1_000),
    TRPC_MAX_BODY_BYTES: ms(1024 * 1024),
    TRPC_MAX_BATCH_SIZE: ms(20),
    // Emits (mutations that publish events) per 10 s, per user and per organisation. 0 turns a limit off.
    RATE_LIMIT_EMITS_PER_USER: z.coerce.number().int().nonnegative().default(100),
    RATE_LIMIT_EMITS_PER_ORGANIZATION: z.coerce.number().int().nonnegative().default(500),
    RATE_LIMIT_SIGNINS_PER_IP: z.coerce.number().int().nonnegative().default(30),
    // Failed sign-ins per account from one address, and from all addresses, per 15 minutes.
    RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().nonnegative().default(10),
    RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: z.coerce.number().int().nonnegative().default(100),
    RATE_LIMIT_STREAM_OPENS_PER_IP: z.coerce.number().int().nonnegative().default(600),
    ESCROW_JOB_INTERVAL_MS: z.coerce.number().int().nonnegative().default(30_000),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  },
  client: {
    // The tabs of a sign-in share one stream ("false": one per tab); read when the app is built.
    NEXT_PUBLIC_EVENTS_SHARED_STREAM: bool.default(true),
  },
  runtimeEnv: {
    NODE_ENV: process.env.NODE_ENV,
    PORT: process.env.PORT,
    HOSTNAME: process.env.HOSTNAME,
    TRUST_PROXY_HOPS: process.env.TRUST_PROXY_HOPS,
    EVENTS_SHUTDOWN_TIMEOUT_MS: process.env.EVENTS_SHUTDOWN_TIMEOUT_MS,
    EVENTS_DRAIN_RECONNECTS_PER_SECOND: process.env.EVENTS_DRAIN_RECONNECTS_PER_SECOND,
    DATABASE_URL: process.env.DATABASE_URL,
    PGLITE_DATA_DIR: process.env.PGLITE_DATA_DIR,
    AUTH_SECRET: process.env.AUTH_SECRET,
    AUTH_DEMO_LOGIN: process.env.AUTH_DEMO_LOGIN,
    AUTH_DEV_SECRET_FILE: process.env.AUTH_DEV_SECRET_FILE,
    AUTH_SESSION_MAX_AGE_S: process.env.AUTH_SESSION_MAX_AGE_S,
    AUTH_SESSION_CACHE_MS: process.env.AUTH_SESSION_CACHE_MS,
    AUTH_GITHUB_ID: process.env.AUTH_GITHUB_ID,
    AUTH_GITHUB_SECRET: process.env.AUTH_GITHUB_SECRET,
    AUTH_DISCORD_ID: process.env.AUTH_DISCORD_ID,
    AUTH_DISCORD_SECRET: process.env.AUTH_DISCORD_SECRET,
    PAYMENTS_WEBHOOK_SECRET: process.env.PAYMENTS_WEBHOOK_SECRET,
    EVENTS_PING_INTERVAL_MS: process.env.EVENTS_PING_INTERVAL_MS,
    EVENTS_RECONNECT_AFTER_INACTIVITY_MS: process.env.EVENTS_RECONNECT_AFTER_INACTIVITY_MS,
    EVENTS_RETENTION_COUNT: process.env.EVENTS_RETENTION_COUNT,
    EVENTS_RETENTION_MS: process.env.EVENTS_RETENTION_MS,
    EVENTS_RETENTION_TOTAL: process.env.EVENTS_RETENTION_TOTAL,
    EVENTS_MAX_CONNECTIONS: process.env.EVENTS_MAX_CONNECTIONS,
    EVENTS_MAX_CONNECTIONS_PER_USER: process.env.EVENTS_MAX_CONNECTIONS_PER_USER,
    EVENTS_MAX_CONNECTIONS_PER_ORGANIZATION: process.env.EVENTS_MAX_CONNECTIONS_PER_ORGANIZATION,
    EVENTS_MAX_PAYLOAD_BYTES: process.env.EVENTS_MAX_PAYLOAD_BYTES,
    EVENTS_REAUTHORIZE_INTERVAL_MS: process.env.EVENTS_REAUTHORIZE_INTERVAL_MS,
    EVENTS_MAX_BACKLOG_BYTES: process.env.EVENTS_MAX_BACKLOG_BYTES,
    EVENTS_STALL_TIMEOUT_MS: process.env.EVENTS_STALL_TIMEOUT_MS,
    EVENTS_ALLOW_STOCK_SSE: process.env.EVENTS_ALLOW_STOCK_SSE,
    EVENTS_ENTITLEMENT_CACHE_MS: process.env.EVENTS_ENTITLEMENT_CACHE_MS,
    EVENTS_PRESENCE_DELIVERIES_PER_SECOND: process.env.EVENTS_PRESENCE_DELIVERIES_PER_SECOND,
    RATE_LIMIT_EMITS_PER_USER: process.env.RATE_LIMIT_EMITS_PER_USER,
    RATE_LIMIT_EMITS_PER_ORGANIZATION: process.env.RATE_LIMIT_EMITS_PER_ORGANIZATION,
    RATE_LIMIT_SIGNINS_PER_IP: process.env.RATE_LIMIT_SIGNINS_PER_IP,
    TRPC_MAX_BODY_BYTES: process.env.TRPC_MAX_BODY_BYTES,
    OUTBOX_RELAY: process.env.OUTBOX_RELAY,
    EVENTS_REPLAY_LOG: process.env.EVENTS_REPLAY_LOG,
    OUTBOX_POLL_MS: process.env.OUTBOX_POLL_MS,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_KEY_PREFIX: process.env.REDIS_KEY_PREFIX,
    METRICS_TOKEN: process.env.METRICS_TOKEN,
    APP_VERSION: process.env.APP_VERSION,
    TRPC_MAX_BATCH_SIZE: process.env.TRPC_MAX_BATCH_SIZE,
    RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT: process.env.RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT,
    RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT_ALL_ADDRESSES:
      process.env.RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT_ALL_ADDRESSES,
    RATE_LIMIT_STREAM_OPENS_PER_IP: process.env.RATE_LIMIT_STREAM_OPENS_PER_IP,
    ESCROW_JOB_INTERVAL_MS: process.env.ESCROW_JOB_INTERVAL_MS,
    LOG_LEVEL: process.env.LOG_LEVEL,
    NEXT_PUBLIC_EVENTS_SHARED_STREAM: process.env.NEXT_PUBLIC_EVENTS_SHARED_STREAM,
  },
  skipValidation: !!process.env.SKIP_ENV_VALIDATION,
  emptyStringAsUndefined: true,
});
