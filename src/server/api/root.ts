import { createCallerFactory, createTRPCRouter } from "~/server/api/trpc";
import { adminRouter } from "~/server/api/routers/admin";
import { eventsRouter } from "~/server/api/routers/events";
import { notificationRouter } from "~/server/api/routers/notification";
import { orderRouter } from "~/server/api/routers/order";
import { sessionRouter } from "~/server/api/routers/session";

export const appRouter = createTRPCRouter({
  admin: adminRouter,
  events: eventsRouter,
  notification: notificationRouter,
  order: orderRouter,
  session: sessionRouter,
});

export type AppRouter = typeof appRouter;

/**
 * Server-side caller: `const api = createCaller(createInnerTRPCContext({ session }))`.
 */
export const createCaller = createCallerFactory(appRouter);

/**
 * Subscriptions the SSE fast path serves (src/server/transport/fast-path.ts),
 * by path. Each returns a `liveStream`; tRPC's own handler refuses them
 * unless EVENTS_ALLOW_STOCK_SSE=true and the request asks for it.
 */
export const streamProcedures: readonly string[] = ["events.onEvent"];
