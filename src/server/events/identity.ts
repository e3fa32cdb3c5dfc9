/**
 * Who a subscriber is, resolved on the server at subscribe time from the
 * session and the database. Nothing here comes from client input, so a
 * subscriber only ever receives what its session entitles it to.
 */
import type { PrismaClient } from "~/generated/prisma/client";

import type { ConnectionPrincipal } from "./registry";
import type { SubscriberIdentity } from "./targets";

export type ResolvedSubscriber = SubscriberIdentity & ConnectionPrincipal;

/** A browser tab's id (the client keeps it in sessionStorage). */
export const TAB_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/**
 * The session a tab subscribes as: the sign-in session plus the tab id, so two
 * tabs of one sign-in are two sessions. The tab id is client-chosen but only
 * ever suffixes the caller's own sign-in session, so it cannot reach anyone else's.
 */
export function tabSessionId(signInSessionId: string, tabId: string | null | undefined): string {
  return tabId && TAB_ID_PATTERN.test(tabId) ? `${signInSessionId}.${tabId}` : signInSessionId;
}

export async function resolveSubscriber(
  db: PrismaClient,
  session: { sessionId: string; user: { id: string } },
  tabId?: string | null,
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
    sessionId: tabSessionId(session.sessionId, tabId),
    signInSessionId: session.sessionId,
    organizationIds: user.memberships.map((m) => m.organizationId),
    metadata,
  };
}
