import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { adminProcedure, createTRPCRouter, protectedProcedure } from "~/server/api/trpc";
import { eventNameSchema } from "~/server/events/catalog";
import { EventLayerError } from "~/server/events/errors";
import { TAB_ID_PATTERN, resolveSubscriber } from "~/server/events/identity";
import { getEventLayer } from "~/server/events";
import { assertResumableCursor, streamEvents } from "~/server/events/subscription";
import { logger } from "~/server/logger";

export const onEventInput = z.object({
  /** Only these event names (system events always arrive). Omit for all. */
  names: z.array(eventNameSchema).max(64).optional(),
  /** Resume after this id; tRPC's link fills it on reconnect (Last-Event-ID). */
  lastEventId: z.string().max(64).nullish(),
  /** This browser tab's id, so two tabs of one sign-in are two sessions (EventSource cannot send headers). */
  tabId: z.string().regex(TAB_ID_PATTERN, "tabId must be 8-64 letters, digits, _ or -").optional(),
});

/** Errors thrown while streaming still reach the client with their own code. */
async function* withTypedErrors<T>(source: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (error) {
    if (error instanceof EventLayerError) {
      throw new TRPCError({ code: error.code, message: error.message, cause: error });
    }
    throw error;
  }
}

export const eventsRouter = createTRPCRouter({
  onEvent: protectedProcedure.input(onEventInput).subscription(async ({ ctx, input, signal }) => {
    const layer = getEventLayer();
    const tabId = input.tabId ?? ctx.tabId;
    const identity = await resolveSubscriber(ctx.db, ctx.session, tabId);
    if (!identity) {
      throw new TRPCError({ code: "UNAUTHORIZED", message: "the signed-in user no longer exists" });
    }
    const lastEventId = input.lastEventId ?? null;
    // Checked before the stream starts so the caller gets a plain typed error.
    if (lastEventId !== null) await assertResumableCursor(layer.bus, lastEventId);
    layer.registry.assertCanOpen(identity.userId);
    return withTypedErrors(
      streamEvents({
        bus: layer.bus,
        registry: layer.registry,
        logger: logger.child({ component: "events" }),
        identity,
        names: input.names ?? null,
        lastEventId,
        signal,
        maxQueuedEvents: layer.config.maxQueuedEventsPerConnection,
        reauthorize: {
          intervalMs: layer.config.reauthorizeIntervalMs,
          resolve: async () =>
            new Date(ctx.session.expires).getTime() <= Date.now()
              ? null
              : resolveSubscriber(ctx.db, ctx.session, tabId),
        },
      }),
    );
  }),

  /** TrackConnections (seeds/002): registry and bus totals. */
  stats: adminProcedure.query(async () => {
    const { registry, bus } = getEventLayer();
    return { ...registry.stats(), bus: await bus.stats() };
  }),

  /** Who in my organisations is online right now. */
  presence: protectedProcedure.query(async ({ ctx }) => {
    const memberships = await ctx.db.membership.findMany({
      where: { userId: ctx.session.user.id },
      select: { organization: { select: { id: true, name: true } } },
    });
    const { registry } = getEventLayer();
    return memberships.map(({ organization }) => ({
      organizationId: organization.id,
      organizationName: organization.name,
      online: registry.presence(organization.id),
    }));
  }),

  /** Open subscriptions, optionally of one user (admins). */
  connections: adminProcedure
    .input(z.object({ userId: z.string().optional() }).optional())
    .query(({ input }) =>
      getEventLayer()
        .registry.list({ userId: input?.userId })
        .map((c) => ({
          connectionId: c.connectionId,
          userId: c.userId,
          userName: c.userName,
          sessionId: c.sessionId,
          organizationIds: [...c.organizationIds],
          connectedAt: new Date(c.connectedAt).toISOString(),
          eventsSent: c.eventsSent,
          lastEventAt: c.lastEventAt ? new Date(c.lastEventAt).toISOString() : null,
        })),
    ),
});
