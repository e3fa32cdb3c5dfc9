/**
 * The operator console's "who is connected": every instance's streams in the
 * viewer's scope, filtered, sorted and paged on the server, and ending one
 * of them wherever it is. Each instance answers for its own registry; on
 * Redis the serving instance asks the others (cluster-control.ts requests)
 * for their first `(page + 1) × pageSize` rows in the same order, merges them
 * and cuts the page. An instance that does not answer within the timeout is
 * left out, and the answer says so (`missingInstances`).
 */
import { z } from "zod";

import type { PrismaClient } from "~/generated/prisma/client";
import { administersAny, visibleOrganizations, type AdminScope } from "~/server/auth/access";
import { runtime } from "~/server/runtime";
import { askOtherInstances, type RequestHandler } from "./cluster-control";

/**
 * How deep the pages reach, in the chosen order: each instance ships up to this
 * many rows to the one merging them, so the bound keeps one request's cost fixed.
 * Past it, a filter or another order narrows the list.
 */
export const MAX_LISTED = 10_000;

export const connectionsQuery = z
  .object({
    /** Matches a user's or an organisation's name (case-insensitive). */
    filter: z.string().trim().max(100).optional(),
    sort: z.enum(["connectedAt", "lastEventAt", "eventsSent", "user"]).default("connectedAt"),
    order: z.enum(["asc", "desc"]).default("desc"),
    page: z.number().int().min(0).default(0),
    pageSize: z.number().int().min(1).max(100).default(25),
  })
  .refine((q) => (q.page + 1) * q.pageSize <= MAX_LISTED, {
    message: `pages reach the first ${MAX_LISTED} streams in the chosen order; filter or sort to narrow`,
    path: ["page"],
  });
export type ConnectionsQuery = z.output<typeof connectionsQuery>;

export const scopeSchema = z.object({ operator: z.boolean(), organizationIds: z.array(z.string().max(64)).max(1_000) });

const rowSchema = z.object({
  instanceId: z.string().max(300),
  connectionId: z.string().max(64),
  user: z.object({ id: z.string().max(64), name: z.string().max(200).nullable() }),
  organizations: z.array(z.string().max(200)).max(100),
  transport: z.enum(["shared", "per-tab"]),
  /** Per-tab: the sign-in's streams on that instance; shared: every tab of the sign-in rides on this one. */
  tabs: z.number().int().nullable(),
  connectedAt: z.number(),
  lastEventAt: z.number().nullable(),
  eventsSent: z.number().int(),
  state: z.enum(["opening", "replaying", "live", "behind"]),
  /** Bytes written to its socket and not yet taken: 0 is "at head". */
  queuedBytes: z.number().int().nullable(),
});
export type ConnectionRow = z.output<typeof rowSchema>;

const listReply = z.object({ total: z.number().int().nonnegative(), rows: z.array(rowSchema).max(MAX_LISTED) });
const listRequest = z.object({
  scope: scopeSchema,
  query: connectionsQuery,
  limit: z.number().int().min(1).max(MAX_LISTED),
});
const endRequest = z.object({
  scope: scopeSchema,
  connectionId: z.string().max(64),
  by: z.object({ userId: z.string().max(64), name: z.string().max(200).nullable() }),
});
const endReply = z.object({ ended: z.boolean() });

/** How long the serving instance waits for the others' answers. */
export const ASK_TIMEOUT_MS = 1_000;

/** Organisation names by id (the console shows names, never ids). */
async function organizationNames(db: PrismaClient, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.organization.findMany({
    where: { id: { in: [...new Set(ids)] } },
    select: { id: true, name: true },
  });
  return new Map(rows.map((row) => [row.id, row.name]));
}

function compareRows(query: ConnectionsQuery) {
  const direction = query.order === "asc" ? 1 : -1;
  const key = (row: ConnectionRow): number | string =>
    query.sort === "user" ? (row.user.name ?? "").toLowerCase() : (row[query.sort] ?? 0);
  return (a: ConnectionRow, b: ConnectionRow) => {
    const [x, y] = [key(a), key(b)];
    return (x < y ? -1 : x > y ? 1 : a.connectionId < b.connectionId ? -1 : 1) * direction;
  };
}

/** This instance's streams in `scope` matching the query, sorted; the first `limit` of them, and how many match. */
async function rowsHere(scope: AdminScope, query: ConnectionsQuery, limit: number) {
  const { events, sse, instanceId, database } = runtime();
  const open = events.registry.list().filter((c) => administersAny(scope, c.organizationIds));
  const names = await organizationNames(
    database.prisma,
    open.flatMap((c) => visibleOrganizations(scope, c.organizationIds)),
  );
  const streamsPerSignIn = new Map<string, number>();
  for (const c of open) streamsPerSignIn.set(c.signInSessionId, (streamsPerSignIn.get(c.signInSessionId) ?? 0) + 1);
  const needle = query.filter?.toLowerCase();
  const rows: ConnectionRow[] = open
    .map((c) => ({
      instanceId,
      connectionId: c.connectionId,
      user: { id: c.userId, name: c.userName },
      organizations: visibleOrganizations(scope, c.organizationIds).map((id) => names.get(id) ?? "(unknown)"),
      transport: c.allTabs ? ("shared" as const) : ("per-tab" as const),
      tabs: c.allTabs ? null : streamsPerSignIn.get(c.signInSessionId)!,
      connectedAt: c.connectedAt,
      lastEventAt: c.lastEventAt,
      eventsSent: c.eventsSent,
      state: c.state,
      queuedBytes: null,
    }))
    .filter(
      (row) =>
        !needle ||
        (row.user.name ?? "").toLowerCase().includes(needle) ||
        row.organizations.some((name) => name.toLowerCase().includes(needle)),
    );
  rows.sort(compareRows(query));
  const first = rows.slice(0, limit);
  for (const row of first) row.queuedBytes = sse.hub.queuedBytes(row.connectionId);
  return { total: rows.length, rows: first };
}

/** Every instance's streams in the viewer's scope: one page, and how many match across the deployment. */
export async function listConnections(scope: AdminScope, query: ConnectionsQuery) {
  const limit = (query.page + 1) * query.pageSize;
  const here = await rowsHere(scope, query, limit);
  const { answers, missing } = await askOtherInstances(
    "connections.list",
    { scope, query, limit },
    listReply,
    ASK_TIMEOUT_MS,
  );
  let total = here.total;
  const rows = [...here.rows];
  for (const { body } of answers) {
    total += body.total;
    rows.push(...body.rows);
  }
  rows.sort(compareRows(query));
  const start = query.page * query.pageSize;
  return {
    total,
    page: query.page,
    pageSize: query.pageSize,
    rows: rows.slice(start, start + query.pageSize),
    instances: 1 + answers.length,
    /** Live instances that did not answer in time (their streams are not counted). */
    missingInstances: missing,
  };
}

/**
 * Ends a stream in `scope` on whichever instance holds it, without ending its
 * sign-in (its client reconnects and resumes), audited as `admin.action`.
 * Resolves false when no instance holds it in that scope.
 */
export async function endConnection(
  scope: AdminScope,
  connectionId: string,
  by: { userId: string; name: string | null },
): Promise<boolean> {
  if (await endHere(scope, connectionId, by)) return true;
  const { answers } = await askOtherInstances("stream.end", { scope, connectionId, by }, endReply, ASK_TIMEOUT_MS);
  return answers.some(({ body }) => body.ended);
}

async function endHere(
  scope: AdminScope,
  connectionId: string,
  by: { userId: string; name: string | null },
): Promise<boolean> {
  const registry = runtime().events.registry;
  const record = registry.get(connectionId);
  if (!record || !administersAny(scope, record.organizationIds)) return false;
  registry.end(connectionId, "ended by an administrator");
  await auditAction(
    scope,
    by,
    "stream.ended",
    { userId: record.userId, name: record.userName },
    record.organizationIds,
    1,
  );
  return true;
}

/** Sends the audit event of an administrator's action to the administrators of each organisation it touched. */
export async function auditAction(
  scope: AdminScope,
  by: { userId: string; name: string | null },
  action: "stream.ended" | "sign_in.revoked",
  subject: { userId: string; name: string | null },
  organizationIds: readonly string[],
  streams: number,
): Promise<void> {
  const { bus } = runtime().events;
  for (const organizationId of visibleOrganizations(scope, organizationIds)) {
    await bus.emit(
      "admin.action",
      { action, organizationId, by, subject, streams },
      { kind: "metadata", organizationId, match: { [`admin:${organizationId}`]: "true" } },
    );
  }
}

/** What this instance answers the others about its streams (the runtime listens with them). */
export const connectionsRequestHandlers: Readonly<Record<string, RequestHandler>> = {
  "connections.list": async (body) => {
    const { scope, query, limit } = listRequest.parse(body);
    return rowsHere(scope, query, limit);
  },
  "stream.end": async (body) => {
    const { scope, connectionId, by } = endRequest.parse(body);
    return { ended: await endHere(scope, connectionId, by) };
  },
};
