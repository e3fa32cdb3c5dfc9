import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { administersAny, visibleOrganizations, type AdminScope } from "~/server/auth/access";
import { adminProcedure, createTRPCRouter, type ProtectedContext } from "~/server/api/trpc";
import { endAllSignIns } from "~/server/auth/sign-in-sessions";
import { runtime } from "~/server/runtime";
import { bus } from "~/server/runtime/event-layer";
import type { EventEnvelope } from "~/server/events";
import type { ConsoleSample } from "~/server/platform/console-timeline";

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

/** Organisation names by id (the console shows names, never ids). */
async function organizationNames(ctx: ProtectedContext, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await ctx.db.organization.findMany({
    where: { id: { in: [...new Set(ids)] } },
    select: { id: true, name: true },
  });
  return new Map(rows.map((row) => [row.id, row.name]));
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

/** Sends the audit event of an administrator's action to the administrators of each organisation it touched. */
async function audit(
  ctx: ProtectedContext,
  action: "stream.ended" | "sign_in.revoked",
  subject: { userId: string; name: string | null },
  organizationIds: readonly string[],
  streams: number,
): Promise<void> {
  const by = { userId: ctx.session.user.id, name: ctx.session.user.name ?? null };
  for (const organizationId of visibleOrganizations(ctx.adminScope, organizationIds)) {
    await bus.emit(
      "admin.action",
      { action, organizationId, by, subject, streams },
      { kind: "metadata", organizationId, match: { [`admin:${organizationId}`]: "true" } },
    );
  }
}

/** An event as the console's "recent events" shows it: a payload only to a viewer who could receive it. */
function recentEventView(envelope: EventEnvelope, scope: AdminScope, names: Map<string, string>) {
  const target = envelope.target;
  const organizationId =
    target.kind === "organization" || target.kind === "metadata" ? target.organizationId : undefined;
  const readable =
    target.kind === "broadcast" ||
    (organizationId !== undefined && scope.organizationIds.includes(organizationId) && target.kind === "organization");
  return {
    id: runtime().events.cursors.seal(envelope.id),
    name: envelope.name,
    audience:
      organizationId !== undefined
        ? `organisation ${names.get(organizationId) ?? "(unknown)"}`
        : target.kind === "broadcast"
          ? "everyone"
          : target.kind === "metadata"
            ? "a metadata match"
            : target.kind,
    bytes: Buffer.byteLength(JSON.stringify(envelope.data)),
    emittedAt: envelope.emittedAt,
    data: readable ? (envelope.data as Record<string, unknown>) : null,
  };
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

const connectionsInput = z.object({
  /** Matches a user's or an organisation's name (case-insensitive). */
  filter: z.string().trim().max(100).optional(),
  sort: z.enum(["connectedAt", "lastEventAt", "eventsSent", "user"]).default("connectedAt"),
  order: z.enum(["asc", "desc"]).default("desc"),
  page: z.number().int().min(0).max(100_000).default(0),
  pageSize: z.number().int().min(1).max(100).default(25),
});

export const adminRouter = createTRPCRouter({
  /**
   * The operator console's first paint: the last 15 minutes of this
   * instance's samples for the caller's scope (the platform for the operator,
   * each administered organisation otherwise), health, instances, retention
   * use per organisation and the newest events. Later samples arrive as
   * `console.sample` events.
   */
  console: adminProcedure.query(async ({ ctx }) => {
    const scope = ctx.adminScope;
    const { console: timeline, events, instanceId } = runtime();
    const organizations = await organizationsInScope(ctx);
    const names = new Map(organizations.map((o) => [o.id, o.name]));
    const retentionCount = events.config.retentionCount;
    // Read from the replay log, which may be Redis: when it is unreachable the page still
    // shows this instance's figures and health (which says so), without these.
    const retention = await withinMs(
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
    );
    const recent = scope.operator
      ? timeline.recentEvents()
      : scope.organizationIds
          .flatMap((id) => timeline.recentEvents(id))
          .sort((a, b) => (a.emittedAt < b.emittedAt ? 1 : -1))
          .slice(0, 100);
    const history: Record<string, ConsoleSample[]> = {};
    if (scope.operator) history.platform = timeline.platformHistory();
    for (const id of scope.organizationIds) history[id] = timeline.organizationHistory(id);
    const instances = events.instances ? await withinMs(events.instances.list(), CONSOLE_READ_TIMEOUT_MS, null) : null;
    return {
      scope: scope.operator ? ("platform" as const) : ("organization" as const),
      organizations,
      instanceId,
      history,
      health: timeline.currentHealth(),
      instances: instances?.map((i) => ({ instanceId: i.instanceId, info: i.info })) ?? null,
      retention,
      recent: recent.map((e) => recentEventView(e, scope, names)),
    };
  }),

  /**
   * Open streams on this instance in the caller's scope, filtered, sorted and
   * paged on the server (the table stays usable with 10,000 streams).
   */
  connections: adminProcedure.input(connectionsInput).query(async ({ ctx, input }) => {
    const scope = ctx.adminScope;
    const open = runtime()
      .events.registry.list()
      .filter((c) => administersAny(scope, c.organizationIds));
    const names = await organizationNames(
      ctx,
      open.flatMap((c) => visibleOrganizations(scope, c.organizationIds)),
    );
    const streamsPerSignIn = new Map<string, number>();
    for (const c of open) streamsPerSignIn.set(c.signInSessionId, (streamsPerSignIn.get(c.signInSessionId) ?? 0) + 1);
    const needle = input.filter?.toLowerCase();
    const rows = open
      .map((c) => ({
        connectionId: c.connectionId,
        user: { id: c.userId, name: c.userName },
        organizations: visibleOrganizations(scope, c.organizationIds).map((id) => names.get(id) ?? "(unknown)"),
        transport: c.allTabs ? ("shared" as const) : ("per-tab" as const),
        /** Per-tab: the sign-in's streams here; shared: every tab of the sign-in rides on this one. */
        tabs: c.allTabs ? null : streamsPerSignIn.get(c.signInSessionId)!,
        connectedAt: c.connectedAt,
        lastEventAt: c.lastEventAt,
        eventsSent: c.eventsSent,
        state: c.state,
      }))
      .filter(
        (row) =>
          !needle ||
          (row.user.name ?? "").toLowerCase().includes(needle) ||
          row.organizations.some((name) => name.toLowerCase().includes(needle)),
      );
    const direction = input.order === "asc" ? 1 : -1;
    const key = (row: (typeof rows)[number]): number | string =>
      input.sort === "user" ? (row.user.name ?? "").toLowerCase() : (row[input.sort] ?? 0);
    rows.sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return (x < y ? -1 : x > y ? 1 : a.connectionId < b.connectionId ? -1 : 1) * direction;
    });
    const start = input.page * input.pageSize;
    return {
      total: rows.length,
      page: input.page,
      pageSize: input.pageSize,
      // Where each shown stream is against what the server sent: bytes its socket has not taken yet.
      rows: rows
        .slice(start, start + input.pageSize)
        .map((row) => ({ ...row, queuedBytes: runtime().sse.hub.queuedBytes(row.connectionId) })),
    };
  }),

  /**
   * Ends one stream in the caller's scope without ending the sign-in: the
   * client reconnects and resumes from its last id. Audited as `admin.action`.
   */
  endStream: adminProcedure
    .input(z.object({ connectionId: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      const registry = runtime().events.registry;
      const record = registry.get(input.connectionId);
      if (!record || !administersAny(ctx.adminScope, record.organizationIds)) {
        throw new TRPCError({ code: "NOT_FOUND", message: "no such stream in an organisation you administer" });
      }
      registry.end(input.connectionId, "ended by an administrator");
      await audit(ctx, "stream.ended", { userId: record.userId, name: record.userName }, record.organizationIds, 1);
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
    await audit(
      ctx,
      "sign_in.revoked",
      { userId: input.userId, name: subject?.name ?? null },
      organizationIds,
      ended.streams,
    );
    return ended;
  }),
});
