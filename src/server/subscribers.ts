/**
 * What a user may receive, read from the database: the event layer's
 * `EntitlementLookup`, backed by Prisma. Organisations and roles come from
 * memberships, never from the token or client input.
 */
import type { PrismaClient } from "~/generated/prisma/client";
import type { EntitlementLookup } from "~/server/events";

export function prismaEntitlements(db: PrismaClient): EntitlementLookup {
  return async (userId) => {
    const user = await db.user.findUnique({
      where: { id: userId },
      select: { id: true, name: true, role: true, memberships: { select: { organizationId: true, role: true } } },
    });
    if (!user) return null;
    const metadata: Record<string, string> = { role: user.role };
    for (const membership of user.memberships) metadata[`org:${membership.organizationId}`] = membership.role;
    return {
      userId: user.id,
      userName: user.name,
      organizationIds: user.memberships.map((m) => m.organizationId),
      metadata,
    };
  };
}
