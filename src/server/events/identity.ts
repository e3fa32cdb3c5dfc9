/**
 * Who a subscriber is, resolved on the server at subscribe time from the
 * session and the database. Nothing here comes from client input, so a
 * subscriber only ever receives what its session entitles it to.
 */
import type { PrismaClient } from "~/generated/prisma/client";

import type { ConnectionPrincipal } from "./registry";
import type { SubscriberIdentity } from "./targets";

export type ResolvedSubscriber = SubscriberIdentity & ConnectionPrincipal;

export async function resolveSubscriber(
  db: PrismaClient,
  session: { sessionId: string; user: { id: string } },
): Promise<ResolvedSubscriber | null> {
  const user = await db.user.findUnique({
    where: { id: session.user.id },
    select: { id: true, name: true, role: true, memberships: { select: { organizationId: true, role: true } } },
  });
  if (!user) return null;
  const metadata: Record<string, string> = { role: user.role };
  for (const membership of user.memberships) metadata[`org:${membership.organizationId}`] = membership.role;
  return {
    userId: user.id,
    userName: user.name,
    sessionId: session.sessionId,
    organizationIds: user.memberships.map((m) => m.organizationId),
    metadata,
  };
}
