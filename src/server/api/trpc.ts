/**
 * tRPC setup: context, transformer, SSE options and the procedure builders.
 */
import {
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  initTRPC,
  tracked,
  TRPCError,
  type TRPCCombinedDataTransformer,
  type TRPCDefaultErrorShape,
  type TRPCErrorFormatter,
  type TRPCRootConfig,
} from "@trpc/server";
import type { Session } from "next-auth";
import superjson from "superjson";
import { ZodError, z } from "zod";

import type { IncomingHttpHeaders } from "node:http";

import { env } from "~/env";
import { adminScopeOf, isAdministrator, type AdminScope } from "~/server/auth/access";
import { sessionOfRequest } from "~/server/auth";
import { db } from "~/server/db";
import {
  EventLayerError,
  parseTabId,
  type Entitlements,
  type Subscription,
  type SubscriptionSink,
  type SubscriptionStream,
} from "~/server/events";
import { expectedFailures } from "~/server/platform/log-throttle";
import { logger } from "~/server/platform/logger";
import { limitEmit, limitStreamOpen, RateLimitedError } from "~/server/platform/rate-limits";
import { runtime } from "~/server/runtime";
import { clientIpOf } from "~/server/transport/client-ip";
import { headersOf } from "~/server/transport/node-headers";

export interface TRPCContext {
  session: Session | null;
  /** The browser tab the request comes from (`x-tab-id`), if the client sent a valid one. */
  tabId: string | null;
  db: typeof db;
  headers: Headers;
}

export const TAB_ID_HEADER = "x-tab-id";

const tabIdFrom = (headers: Headers) => parseTabId(headers.get(TAB_ID_HEADER));

/** For the route handler: the session comes from the request's cookie via Auth.js. */
export async function createTRPCContext(opts: { headers: Headers }): Promise<TRPCContext> {
  const session = await sessionOfRequest(Object.fromEntries(opts.headers));
  return { session, tabId: tabIdFrom(opts.headers), db, headers: opts.headers };
}

/** For the SSE fast path: a plain Node request, outside Next's request scope. */
export async function createStreamContext(raw: IncomingHttpHeaders): Promise<TRPCContext> {
  const session = await sessionOfRequest(raw);
  // The context lives as long as the stream: without the cookie, which was read just above.
  const headers = headersOf({ ...raw, cookie: undefined });
  return { session, tabId: tabIdFrom(headers), db, headers };
}

/** For server code and tests that already hold a session. */
export function createInnerTRPCContext(opts: { session: Session | null; headers?: Headers }): TRPCContext {
  const headers = opts.headers ?? new Headers();
  return { session: opts.session, tabId: tabIdFrom(headers), db, headers };
}

/**
 * What tRPC's SSE handler tells the client in `connected`: the client
 * reconnects, resuming from its last event id, after this much silence.
 * Heartbeats (`ping`) keep proxies (60 s idle timeouts are common) from
 * cutting the stream, and let the client notice a dead one.
 */
export const sseClientOptions = { reconnectAfterInactivityMs: env.EVENTS_RECONNECT_AFTER_INACTIVITY_MS };

const errorFormatter: TRPCErrorFormatter<TRPCContext, TRPCDefaultErrorShape> = ({ shape, error }) => ({
  ...shape,
  data: {
    ...shape.data,
    zodError: error.cause instanceof ZodError ? error.cause.flatten() : null,
    // When to try again after TOO_MANY_REQUESTS.
    ...(error.cause instanceof RateLimitedError ? { retryAfterMs: error.cause.retryAfterMs } : {}),
  },
});

const t = initTRPC.context<TRPCContext>().create({
  transformer: superjson,
  sse: { ping: { enabled: true, intervalMs: env.EVENTS_PING_INTERVAL_MS }, client: sseClientOptions },
  errorFormatter,
});

/**
 * The router's configuration as tRPC's public `getErrorShape` reads it (the
 * formatter and whether stack traces are shown), for errors the SSE fast path
 * writes itself. tests/unit/trpc-wire.test.ts holds the result to what tRPC's
 * own handler answers.
 */
const errorShapeConfig: TRPCRootConfig<{
  ctx: TRPCContext;
  meta: object;
  errorShape: ReturnType<typeof errorFormatter>;
  transformer: true;
}> = {
  $types: null as never,
  transformer: { input: superjson, output: superjson } satisfies TRPCCombinedDataTransformer,
  errorFormatter,
  allowOutsideOfServer: false,
  isServer: true,
  isDev: env.NODE_ENV !== "production",
};

/** An error of procedure `path` in the shape tRPC's handler gives it (the router's formatter included). */
export function errorShapeOf(error: unknown, path: string, input: unknown) {
  return getTRPCErrorShape({
    config: errorShapeConfig,
    error: getTRPCErrorFromUnknown(toTRPCError(error)),
    type: "subscription",
    path,
    input,
    ctx: undefined,
  });
}

export const createCallerFactory = t.createCallerFactory;
export const createTRPCRouter = t.router;

/** The one place where event-layer errors become the TRPCError code they declare. */
function fromEventLayerError(error: EventLayerError): TRPCError {
  return new TRPCError({ code: error.code, message: error.message, cause: error });
}

/** An error as tRPC should report it: event-layer errors keep their codes, anything else passes through. */
export function toTRPCError(error: unknown): unknown {
  return error instanceof EventLayerError ? fromEventLayerError(error) : error;
}

/** A live subscription's result: tracked items to pull, or handed over whole to a sink (the SSE fast path). */
export interface LiveStream<T> extends AsyncIterable<T> {
  /** Delivers every item from now on straight to `sink` instead; returns the subscription the sink drives. */
  pipeTo(sink: SubscriptionSink): Subscription;
}

/**
 * A subscription's items as tRPC tracked events (the id becomes the SSE
 * `id:`, which the client sends back to resume). tRPC's middleware only sees
 * errors thrown before the stream starts; errors thrown while streaming are
 * mapped here so they keep their codes too. Whoever serves the stream may
 * pull it (tRPC's handler, `createCaller`) or take it over (`pipeTo`).
 */
export function liveStream(stream: SubscriptionStream) {
  async function* items() {
    try {
      for await (const item of stream) yield tracked(item.id, item.event);
    } catch (error) {
      throw toTRPCError(error);
    }
  }
  return {
    [Symbol.asyncIterator]: () => items(),
    pipeTo: (sink: SubscriptionSink) => stream.pipeTo(sink),
  };
}

/** Whether a procedure's result can be taken over by a sink (see `liveStream`). */
export function isLiveStream(value: unknown): value is LiveStream<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Partial<LiveStream<unknown>>).pipeTo === "function" &&
    Symbol.asyncIterator in value
  );
}

/** Event-layer errors become the TRPCError code they declare; everything is logged as JSON. */
const errorMapping = t.middleware(async ({ next, path, type }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof EventLayerError) {
      result.error = fromEventLayerError(cause);
    } else if (cause instanceof RateLimitedError) {
      result.error = new TRPCError({ code: "TOO_MANY_REQUESTS", message: cause.message, cause });
    } else if (cause instanceof ZodError && result.error.code === "BAD_REQUEST") {
      // tRPC's default message is the issues as JSON; say it in words instead.
      result.error = new TRPCError({ code: "BAD_REQUEST", message: `invalid input: ${z.prettifyError(cause)}`, cause });
    }
    const { code, message } = result.error;
    if (code === "INTERNAL_SERVER_ERROR") {
      logger.error({ event: "trpc.error", path, type, code, message }, "procedure failed");
    } else {
      // The caller's mistake (or an attack): once per procedure and code per interval.
      const line = expectedFailures.take(`trpc:${path}:${code}`);
      if (line) logger.info({ event: "trpc.error", path, type, code, message, ...line }, "procedure refused");
    }
  }
  return result;
});

export const publicProcedure = t.procedure.use(errorMapping);

/**
 * A signed-in caller, with what they may do read from the database (through
 * the event layer's short per-user cache), never from the token: a demoted
 * admin or a removed member loses access at once, not when the cookie expires.
 */
const authenticated = t.middleware(async ({ ctx, next }) => {
  if (!ctx.session?.user?.id) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in to use this procedure" });
  }
  const entitlements = await runtime().events.entitlements.get(ctx.session.user.id);
  if (!entitlements) throw new TRPCError({ code: "UNAUTHORIZED", message: "the signed-in user no longer exists" });
  return next({ ctx: { ...ctx, session: ctx.session, entitlements, adminScope: adminScopeOf(entitlements) } });
});

export const protectedProcedure = publicProcedure.use(authenticated);

/** The context of a signed-in caller, as `authenticated` leaves it. */
export interface ProtectedContext extends TRPCContext {
  session: Session;
  entitlements: Entitlements;
  adminScope: AdminScope;
}

/** A procedure that emits events: limited per user and per organisation (fairness between tenants). */
export const emittingProcedure = protectedProcedure.use(async ({ ctx, next }) => {
  await limitEmit(ctx.session.user.id, ctx.entitlements.organizationIds);
  return next();
});

/**
 * A live stream: opens are limited per client address before the user's
 * entitlements are looked up, so a reconnect flood costs little; then as
 * protectedProcedure.
 */
export const streamingProcedure = publicProcedure
  .use(async ({ ctx, next }) => {
    await limitStreamOpen(clientIpOf(ctx.headers));
    return next();
  })
  .use(authenticated);

/**
 * An organisation's administrator or the platform operator. What each
 * procedure shows or changes is then limited to `ctx.adminScope`.
 */
export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (!isAdministrator(ctx.adminScope)) {
    throw new TRPCError({ code: "FORBIDDEN", message: "administrators only" });
  }
  return next();
});

/** Powers that span tenants: every organisation's figures, broadcasts to everyone. */
export const operatorProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (!ctx.adminScope.operator) {
    throw new TRPCError({ code: "FORBIDDEN", message: "platform operators only" });
  }
  return next();
});
