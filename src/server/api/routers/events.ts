import { TRPCError } from "@trpc/server";
import { z } from "zod";

import {
  adminProcedure,
  createTRPCRouter,
  protectedProcedure,
  streamingProcedure,
  trackedItems,
} from "~/server/api/trpc";
import { getEventLayer, listInstances } from "~/server/event-layer";
import { getSseFastPath } from "~/server/sse/holder";
import {
  eventNameSchema,
  openSubscription,
  subscriberOf,
  SubscriptionStream,
  tabIdSchema,
  type SubscriptionSink,
} from "~/server/events";

export const onEventInput = z.object({
  /** Only these event names (system events always arrive). Omit for all. */
  names: z.array(eventNameSchema).max(64).optional(),
  /** Resume after this id; tRPC's link fills it on reconnect (Last-Event-ID). */
  lastEventId: z.string().max(64).nullish(),
  /** This browser tab's id, so two tabs of one sign-in are two sessions (EventSource cannot send headers). */
  tabId: tabIdSchema.optional(),
  /**
   * One stream for every tab of this sign-in (the browser shares it between
   * its tabs): the sign-in session id the page was rendered for. Refused when
   * the cookie now belongs to another sign-in, so tabs of a previous user
   * never receive the next one's events.
   */
  allTabsOf: z.string().min(1).max(128).optional(),
});

export const eventsRouter = createTRPCRouter({
  onEvent: streamingProcedure.input(onEventInput).subscription(async ({ ctx, input, signal }) => {
    const layer = getEventLayer();
    if (input.allTabsOf !== undefined && input.allTabsOf !== ctx.session.sessionId) {
      throw new TRPCError({
        code: "UNAUTHORIZED",
        message: "this browser has signed in again since the page loaded; reload it",
      });
    }
    const identity = subscriberOf(
      { sessionId: ctx.session.sessionId, userId: ctx.session.user.id },
      input.tabId ?? ctx.tabId,
      ctx.entitlements,
      { allTabs: input.allTabsOf !== undefined },
    );
    // Awaited before returning, so a refused cursor or a reached limit
    // reaches the client as a plain typed error.
    const open = (sink: SubscriptionSink) =>
      openSubscription(layer, {
        identity,
        names: input.names ?? null,
        lastEventId: input.lastEventId ?? null,
        sink,
        expiresAt: ctx.session.tokenExpires ? Date.parse(ctx.session.tokenExpires) : null,
      });
    if (ctx.sse) {
      // The SSE fast path: the subscription writes straight to its response.
      ctx.sse.attach(await open(ctx.sse));
      return trackedItems([]);
    }
    const stream = new SubscriptionStream(layer.config.maxQueuedEventsPerConnection);
    return trackedItems(stream.attach(await open(stream), signal));
  }),

  /** Registry, bus and SSE totals (slow-consumer and stalled-socket disconnects among them). */
  stats: adminProcedure.query(async () => {
    const { registry, bus } = getEventLayer();
    return {
      ...registry.stats(),
      bus: await bus.stats(),
      sse: getSseFastPath()?.hub.stats() ?? null,
      /** With REDIS_URL: every live instance and what it holds (this one's figures are above). */
      instances: await listInstances(),
    };
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
        signInSessionId: c.signInSessionId,
        /** One stream shared by every tab of the sign-in. */
        allTabs: c.allTabs,
        organizationIds: [...c.organizationIds],
        connectedAt: new Date(c.connectedAt).toISOString(),
        eventsSent: c.eventsSent,
        lastEventAt: c.lastEventAt ? new Date(c.lastEventAt).toISOString() : null,
      })),
  ),
});
