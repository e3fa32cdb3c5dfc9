import type { PrismaClient } from "~/generated/prisma/client";

/** The organisations a user belongs to, read from the database (never from client input). */
export async function organizationIdsOf(db: PrismaClient, userId: string): Promise<string[]> {
  const memberships = await db.membership.findMany({ where: { userId }, select: { organizationId: true } });
  return memberships.map((m) => m.organizationId);
}
