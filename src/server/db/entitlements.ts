/**
 * What a user may receive, read from the database: the event layer's
 * `EntitlementLookup`, backed by Prisma. Organisations and roles come from
 * memberships, never from the token or client input.
 */
import type { PrismaClient } from "~/generated/prisma/client";
import { batchedLookup } from "~/server/db/batched-lookup";
import type { Entitlements, EntitlementLookup } from "~/server/events";

export function prismaEntitlements(db: PrismaClient): EntitlementLookup {
  // Users new to the process that connect together (after a deploy) are read with one query.
  const lookup = batchedLookup<string, Entitlements>(async (userIds) => {
    const users = await db.user.findMany({
      where: { id: { in: userIds } },
      select: { id: true, name: true, role: true, memberships: { select: { organizationId: true, role: true } } },
    });
    return new Map(users.map((user) => [user.id, entitlementsOf(user)]));
  });
  return async (userId) => (await lookup(userId)) ?? null;
}

function entitlementsOf(user: {
  id: string;
  name: string | null;
  role: string;
  memberships: { organizationId: string; role: string }[];
}): Entitlements {
  const metadata: Record<string, string> = { role: user.role };
  for (const membership of user.memberships) {
    metadata[`org:${membership.organizationId}`] = membership.role;
    // One key that every administrator of the organisation shares: a metadata target reaches them all at once.
    if (membership.role === "OWNER" || membership.role === "ADMIN")
      metadata[`admin:${membership.organizationId}`] = "true";
  }
  return {
    userId: user.id,
    userName: user.name,
    organizationIds: user.memberships.map((m) => m.organizationId),
    metadata,
  };
}
