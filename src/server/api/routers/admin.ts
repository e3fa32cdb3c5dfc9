import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { administersAny } from "~/server/auth/access";
import { adminProcedure, createTRPCRouter, type ProtectedContext } from "~/server/api/trpc";
import { endAllSignIns } from "~/server/auth/sign-in-sessions";
import { runtime } from "~/server/runtime";
import { auditAction, connectionsQuery, endConnection, listConnections } from "~/server/platform/console-connections";
import { clusterHistory, clusterRecent } from "~/server/platform/console-history";

const userId = z.string().min(1).max(64);

/** The user's organisations, or NOT_FOUND unless the caller administers one of them (no probing of other tenants). */
async function memberOrganizationsInScope(ctx: ProtectedContext, id: string): Promise<string[]> {
  const memberships = await ctx.db.membership.findMany({ where: { userId: id }, select: { organizationId: true } });
  const organizationIds = memberships.map((m) => m.organizationId);
  const exists = ctx.adminScope.operator ? (await ctx.db.user.count({ where: { id } })) > 0 : true;
  if (!exists || !administersAny(ctx.adminScope, organizationIds)) {
    throw new TRPCError({ code: "NOT_FOUND", message: "no such member in an organisation you administer" });
  }
  return organizationIds;
}

/** The organisations a console shows: the caller's own, or (operator) every one, at most 200 by name. */
async function organizationsInScope(ctx: ProtectedContext): Promise<{ id: string; name: string }[]> {
  return ctx.db.organization.findMany({
    where: ctx.adminScope.operator ? {} : { id: { in: [...ctx.adminScope.organizationIds] } },
    select: { id: true, name: true },
    orderBy: { name: "asc" },
    take: 200,
  });
}

/** How long the console waits for the replay log and the instance list (Redis) before leaving them out. */
const CONSOLE_READ_TIMEOUT_MS = 1_000;

/** `promise`'s value, or `fallback` if it fails or takes longer than `ms`. */
async function withinMs<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}

export const adminRouter = createTRPCRouter({
  /**
   * The operator console's first paint: the last 15 minutes of every
   * instance's samples for the caller's scope (the platform for the operator,
   * each administered organisation otherwise), this instance's health and the
   * deployment's instances. Later samples arrive as `console.sample` events.
   */
  console: adminProcedure.query(async ({ ctx }) => {
    const scope = ctx.adminScope;
    const { console: timeline, events, instanceId } = runtime();
    const [organizations, gathered, instances] = await Promise.all([
      organizationsInScope(ctx),
      clusterHistory(scope),
      events.instances ? withinMs(events.instances.list(), CONSOLE_READ_TIMEOUT_MS, null) : null,
    ]);
    return {
      scope: scope.operator ? ("platform" as const) : ("organization" as const),
      organizations,
      instanceId,
      history: gathered.history,
      /** Live instances whose samples before the page opened are missing (they did not answer in time). */
      historyMissingInstances: gathered.missingInstances,
      health: timeline.currentHealth(),
      instances: instances?.map((i) => ({ instanceId: i.instanceId, info: i.info })) ?? null,
    };
  }),

  /**
   * What moves with emits, read again by the page while events flow: replay
   * retention use per organisation in scope, and the newest events every
   * instance published there.
   */
  activity: adminProcedure.query(async ({ ctx }) => {
    const { events } = runtime();
    const organizations = await organizationsInScope(ctx);
    const names = new Map(organizations.map((o) => [o.id, o.name]));
    const retentionCount = events.config.retentionCount;
    // Read from the replay log, which may be Redis: when it is unreachable the page still
    // shows the rest (and its health banner says why), without these.
    const [retention, recent] = await Promise.all([
      withinMs(
        Promise.all(
          organizations.map(async (o) => ({
            organizationId: o.id,
            name: o.name,
            retained: await events.bus.retained(`org:${o.id}`),
            max: retentionCount,
          })),
        ),
        CONSOLE_READ_TIMEOUT_MS,
        [],
      ),
      clusterRecent(ctx.adminScope, names),
    ]);
    return { retention, ...recent };
  }),

  /**
   * Open streams in the caller's scope on every instance, filtered, sorted and
   * paged on the server (the table stays usable with 10,000 streams).
   */
  connections: adminProcedure.input(connectionsQuery).query(({ ctx, input }) => listConnections(ctx.adminScope, input)),

  /**
   * Ends one stream in the caller's scope without ending the sign-in: the
   * client reconnects and resumes from its last id. Audited as `admin.action`.
   */
  endStream: adminProcedure
    .input(z.object({ connectionId: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      const by = { userId: ctx.session.user.id, name: ctx.session.user.name ?? null };
      if (!(await endConnection(ctx.adminScope, input.connectionId, by))) {
        throw new TRPCError({ code: "NOT_FOUND", message: "no such stream in an organisation you administer" });
      }
      return { ended: true as const };
    }),

  /**
   * Makes a member an administrator of one organisation, or a member again.
   * Takes effect on their next request and their open streams' next
   * re-authorisation: roles are read from the database, never from the cookie.
   */
  setRole: adminProcedure
    .input(z.object({ userId, organizationId: z.string().min(1).max(64), role: z.enum(["ADMIN", "MEMBER"]) }))
    .mutation(async ({ ctx, input }) => {
      if (!administersAny(ctx.adminScope, [input.organizationId])) {
        throw new TRPCError({ code: "NOT_FOUND", message: "no such member in an organisation you administer" });
      }
      if (input.userId === ctx.session.user.id) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "ask another administrator to change your own role" });
      }
      const membership = await ctx.db.membership.findUnique({
        where: { userId_organizationId: { userId: input.userId, organizationId: input.organizationId } },
      });
      if (!membership) {
        throw new TRPCError({ code: "NOT_FOUND", message: "no such member in an organisation you administer" });
      }
      if (membership.role === "OWNER" && !ctx.adminScope.operator) {
        throw new TRPCError({ code: "FORBIDDEN", message: "an organisation's owner keeps their role" });
      }
      await ctx.db.membership.update({ where: { id: membership.id }, data: { role: input.role } });
      runtime().events.entitlements.invalidate(input.userId);
      return { userId: input.userId, organizationId: input.organizationId, role: input.role };
    }),

  /**
   * Ends every sign-in of a member of an organisation the caller administers
   * (any user, for the platform operator): their cookies stop working and
   * their open streams end at once.
   */
  revokeUser: adminProcedure.input(z.object({ userId })).mutation(async ({ ctx, input }) => {
    const organizationIds = await memberOrganizationsInScope(ctx, input.userId);
    const ended = await endAllSignIns(input.userId);
    const subject = await ctx.db.user.findUnique({ where: { id: input.userId }, select: { name: true } });
    await auditAction(
      ctx.adminScope,
      { userId: ctx.session.user.id, name: ctx.session.user.name ?? null },
      "sign_in.revoked",
      { userId: input.userId, name: subject?.name ?? null },
      organizationIds,
      ended.streams,
    );
    return ended;
  }),
});
