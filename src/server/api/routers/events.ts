import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { administersAny, visibleOrganizations } from "~/server/auth/access";
import {
  adminProcedure,
  createTRPCRouter,
  liveStream,
  type TRPCContext,
  protectedProcedure,
  streamingProcedure,
} from "~/server/api/trpc";
import { isSignInActive, isSignInActiveNow } from "~/server/auth/sign-in-sessions";
import { eventNameSchema } from "~/server/domain/catalog";
import { runtime } from "~/server/runtime";
import {
  MAX_SEALED_CURSOR_LENGTH,
  openSubscription,
  subscriberOf,
  SubscriptionStream,
  tabIdSchema,
} from "~/server/events";

export const onEventInput = z.object({
  /** Only these event names (system events always arrive). Omit for all. */
  names: z.array(eventNameSchema).max(64).optional(),
  /** Resume after this id (a sealed cursor the stream sent); tRPC's link fills it on reconnect (Last-Event-ID). */
  lastEventId: z.string().max(MAX_SEALED_CURSOR_LENGTH).nullish(),
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

/**
 * Streams' sign-in check: one function for every stream (a closure made per
 * request would keep the request's whole context alive as long as its stream).
 */
const signInActive = (signInSessionId: string, fresh: boolean) =>
  fresh ? isSignInActiveNow(signInSessionId) : isSignInActive(signInSessionId);

export const eventsRouter = createTRPCRouter({
  onEvent: streamingProcedure.input(onEventInput).subscription(async ({ ctx, input, signal }) => {
    const layer = runtime().events;
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
    const stream = new SubscriptionStream(layer.config.maxQueuedEventsPerConnection);
    const subscription = await openSubscription(layer, {
      identity,
      names: input.names ?? null,
      lastEventId: input.lastEventId ?? null,
      sink: stream,
      expiresAt: ctx.session.tokenExpires ? Date.parse(ctx.session.tokenExpires) : null,
      signInActive,
    });
    return liveStream(stream.attach(subscription, signal));
  }),

  /**
   * Open streams of the organisations the caller administers, by organisation
   * and member (names, not ids). The platform operator also gets the
   * process-wide totals: registry, bus, SSE and every instance.
   */
  stats: adminProcedure.query(async ({ ctx }) => {
    const { events, sse } = runtime();
    const { registry, bus } = events;
    const scope = ctx.adminScope;
    const open = registry.list().filter((c) => administersAny(scope, c.organizationIds));
    // One pass: each stream counts in every organisation of its that the caller may see.
    const byOrganization = new Map<string, { connections: number; members: Map<string, MemberCount> }>();
    const shown = (id: string) => {
      let entry = byOrganization.get(id);
      if (!entry) byOrganization.set(id, (entry = { connections: 0, members: new Map() }));
      return entry;
    };
    for (const id of scope.organizationIds) shown(id);
    for (const c of open) {
      for (const id of visibleOrganizations(scope, c.organizationIds)) {
        const entry = shown(id);
        entry.connections++;
        const member = entry.members.get(c.userId) ?? { name: c.userName, connections: 0 };
        member.connections++;
        entry.members.set(c.userId, member);
      }
    }
    const names = await namesOf(ctx.db, [...byOrganization.keys()]);
    const now = Date.now();
    return {
      scope: scope.operator ? ("platform" as const) : ("organization" as const),
      totalConnections: open.length,
      averageConnectionDurationMs: open.length
        ? Math.round(open.reduce((sum, c) => sum + (now - c.connectedAt), 0) / open.length)
        : 0,
      eventsSent: open.reduce((sum, c) => sum + c.eventsSent, 0),
      lastEventAt: latest(open.map((c) => c.lastEventAt)),
      organizations: [...byOrganization].flatMap(([id, entry]) => {
        const name = names.get(id);
        return name === undefined
          ? []
          : [{ id, name, connections: entry.connections, members: [...entry.members.values()] }];
      }),
      platform: scope.operator
        ? {
            ...registry.stats(),
            bus: await bus.stats(),
            sse: sse.hub.stats(),
            /** With REDIS_URL: every live instance and what it holds (this one's figures are above). */
            instances: (await events.instances?.list()) ?? null,
          }
        : null,
    };
  }),

  /** Who in my organisations is online right now. */
  presence: protectedProcedure.query(async ({ ctx }) => {
    const memberships = await ctx.db.membership.findMany({
      where: { userId: ctx.session.user.id },
      select: { organization: { select: { id: true, name: true } } },
    });
    const { presence } = runtime().events;
    return Promise.all(
      memberships.map(async ({ organization }) => ({
        organizationId: organization.id,
        organizationName: organization.name,
        online: await presence.online(organization.id),
      })),
    );
  }),

  /**
   * Open streams of members of the organisations the caller administers
   * (every stream, for the platform operator), optionally of one user. Each
   * lists only the organisations the caller administers.
   */
  connections: adminProcedure
    .input(z.object({ userId: z.string().max(64).optional() }).optional())
    .query(async ({ ctx, input }) => {
      const scope = ctx.adminScope;
      const open = runtime()
        .events.registry.list({ userId: input?.userId })
        .filter((c) => administersAny(scope, c.organizationIds));
      const names = await namesOf(ctx.db, [
        ...new Set(open.flatMap((c) => visibleOrganizations(scope, c.organizationIds))),
      ]);
      return open.map((c) => ({
        connectionId: c.connectionId,
        userId: c.userId,
        userName: c.userName,
        /** The tab's session and its sign-in (within the caller's organisations: they administer those sign-ins). */
        sessionId: c.sessionId,
        signInSessionId: c.signInSessionId,
        /** One stream shared by every tab of the sign-in. */
        allTabs: c.allTabs,
        organizations: visibleOrganizations(scope, c.organizationIds).map((id) => ({
          id,
          name: names.get(id) ?? null,
        })),
        connectedAt: new Date(c.connectedAt).toISOString(),
        eventsSent: c.eventsSent,
        lastEventAt: c.lastEventAt ? new Date(c.lastEventAt).toISOString() : null,
      }));
    }),
});

interface MemberCount {
  name: string | null;
  connections: number;
}

/** Organisation names by id. */
async function namesOf(db: TRPCContext["db"], ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.organization.findMany({ where: { id: { in: [...ids] } }, select: { id: true, name: true } });
  return new Map(rows.map((row) => [row.id, row.name]));
}

function latest(times: (number | null)[]): string | null {
  const newest = Math.max(...times.map((t) => t ?? 0));
  return newest > 0 ? new Date(newest).toISOString() : null;
}
