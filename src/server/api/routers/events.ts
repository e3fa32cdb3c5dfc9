import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { adminProcedure, createTRPCRouter, protectedProcedure, trackedItems } from "~/server/api/trpc";
import { getEventLayer } from "~/server/event-layer";
import { eventNameSchema, Subscription, SubscriptionStream, tabIdSchema, type SubscriptionSink } from "~/server/events";
import { prismaSubscriberResolver } from "~/server/subscribers";

export const onEventInput = z.object({
  /** Only these event names (system events always arrive). Omit for all. */
  names: z.array(eventNameSchema).max(64).optional(),
  /** Resume after this id; tRPC's link fills it on reconnect (Last-Event-ID). */
  lastEventId: z.string().max(64).nullish(),
  /** This browser tab's id, so two tabs of one sign-in are two sessions (EventSource cannot send headers). */
  tabId: tabIdSchema.optional(),
});

export const eventsRouter = createTRPCRouter({
  onEvent: protectedProcedure.input(onEventInput).subscription(async ({ ctx, input, signal }) => {
    const layer = getEventLayer();
    const tabId = input.tabId ?? ctx.tabId;
    const session = { sessionId: ctx.session.sessionId, userId: ctx.session.user.id };
    const resolve = prismaSubscriberResolver(ctx.db);
    const identity = await resolve(session, tabId);
    if (!identity) {
      throw new TRPCError({ code: "UNAUTHORIZED", message: "the signed-in user no longer exists" });
    }
    // Awaited before returning, so a refused cursor or a reached limit
    // reaches the client as a plain typed error.
    const open = (sink: SubscriptionSink) =>
      Subscription.open({
        bus: layer.bus,
        registry: layer.registry,
        presence: layer.presence,
        logger: layer.logger,
        identity,
        names: input.names ?? null,
        lastEventId: input.lastEventId ?? null,
        sink,
        maxPendingEvents: layer.config.maxQueuedEventsPerConnection,
        reauthorize: {
          intervalMs: layer.config.reauthorizeIntervalMs,
          resolve: async () => (new Date(ctx.session.expires).getTime() <= Date.now() ? null : resolve(session, tabId)),
        },
      });
    if (ctx.sse) {
      // The SSE fast path: the subscription writes straight to its response.
      ctx.sse.attach(await open(ctx.sse));
      return trackedItems([]);
    }
    const stream = new SubscriptionStream(layer.config.maxQueuedEventsPerConnection);
    return trackedItems(stream.attach(await open(stream), signal));
  }),

  /** Registry and bus totals. */
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
    const { presence } = getEventLayer();
    return Promise.all(
      memberships.map(async ({ organization }) => ({
        organizationId: organization.id,
        organizationName: organization.name,
        online: await presence.online(organization.id),
      })),
    );
  }),

  /** Open subscriptions, optionally of one user (admins). */
  connections: adminProcedure.input(z.object({ userId: z.string().optional() }).optional()).query(({ input }) =>
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
