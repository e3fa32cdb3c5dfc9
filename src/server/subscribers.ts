/**
 * Who a subscriber is, read from the database: the event layer's
 * `SubscriberResolver`, backed by Prisma. Organisations and roles come from
 * memberships, never from the token or client input.
 */
import type { PrismaClient } from "~/generated/prisma/client";
import { tabSessionId, type SubscriberResolver } from "~/server/events";

export function prismaSubscriberResolver(db: PrismaClient): SubscriberResolver {
  return async (session, tabId) => {
    const user = await db.user.findUnique({
      where: { id: session.userId },
      select: { id: true, name: true, role: true, memberships: { select: { organizationId: true, role: true } } },
    });
    if (!user) return null;
    const metadata: Record<string, string> = { role: user.role };
    for (const membership of user.memberships) metadata[`org:${membership.organizationId}`] = membership.role;
    return {
      userId: user.id,
      userName: user.name,
      sessionId: tabSessionId(session.sessionId, tabId),
      signInSessionId: session.sessionId,
      organizationIds: user.memberships.map((m) => m.organizationId),
      metadata,
    };
  };
}
