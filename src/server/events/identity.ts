/**
 * Who a subscriber is. The app resolves it on the server from the session
 * and its own data (a `SubscriberResolver`); nothing here comes from client
 * input except the tab id, which only ever suffixes the caller's own sign-in
 * session. So a subscriber only ever receives what its session entitles it to.
 */
import { z } from "zod";

/** What routing needs to know about a subscriber. */
export interface SubscriberIdentity {
  userId: string;
  /** This tab's session (`<sign-in session>.<tab id>`), or the sign-in session when the client sent no tab id. */
  sessionId: string;
  /** The sign-in session: a session target naming it reaches every tab of that sign-in. */
  signInSessionId: string;
  /**
   * One stream for every tab of the sign-in (the browser shares it between
   * its tabs): it also receives what is sent to any one of those tabs, and
   * the client hands each such event to its tab alone (`LiveEvent.tabId`).
   */
  allTabs?: boolean;
  organizationIds: readonly string[];
  /** Server-derived attributes a metadata target matches on (role, organisation roles). */
  metadata: Readonly<Record<string, string>>;
}

/** A subscriber as the registry and presence show it. */
export interface ResolvedSubscriber extends SubscriberIdentity {
  userName: string | null;
}

/** The signed-in caller, as the app's auth layer knows it. */
export interface SubscriberSession {
  sessionId: string;
  userId: string;
}

/** What a user may receive, wherever they connect from: read from the app's data, never from the client. */
export interface Entitlements {
  userId: string;
  userName: string | null;
  organizationIds: readonly string[];
  /** Server-derived attributes a metadata target matches on (role, organisation roles). */
  metadata: Readonly<Record<string, string>>;
}

/**
 * Reads a user's current entitlements; null when the user no longer exists.
 * Called at subscribe time (through a short cache) and on re-authorisation.
 */
export type EntitlementLookup = (userId: string) => Promise<Entitlements | null>;

/** The subscriber a session's tab is (or all its tabs are), given the user's entitlements. */
export function subscriberOf(
  session: SubscriberSession,
  tabId: string | null,
  entitlements: Entitlements,
  { allTabs = false }: { allTabs?: boolean } = {},
): ResolvedSubscriber {
  return {
    userId: entitlements.userId,
    userName: entitlements.userName,
    sessionId: tabSessionId(session.sessionId, allTabs ? null : tabId),
    signInSessionId: session.sessionId,
    ...(allTabs ? { allTabs } : {}),
    organizationIds: entitlements.organizationIds,
    metadata: entitlements.metadata,
  };
}

/** A browser tab's id (the client keeps it in sessionStorage): the one rule for it. */
export const tabIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "tabId must be 8-64 letters, digits, _ or -");

/** A valid tab id, or null for anything else (absent, malformed). */
export function parseTabId(value: string | null | undefined): string | null {
  return tabIdSchema.safeParse(value).success ? value! : null;
}

/**
 * The session a tab subscribes as: the sign-in session plus the tab id, so two
 * tabs of one sign-in are two sessions.
 */
export function tabSessionId(signInSessionId: string, tabId: string | null): string {
  return tabId ? `${signInSessionId}.${tabId}` : signInSessionId;
}

/** The sign-in session and tab a session id names (inverse of `tabSessionId`). */
export function splitSessionId(sessionId: string): { signInSessionId: string; tabId: string | null } {
  const dot = sessionId.indexOf(".");
  return dot < 0
    ? { signInSessionId: sessionId, tabId: null }
    : { signInSessionId: sessionId.slice(0, dot), tabId: sessionId.slice(dot + 1) };
}

function sortedKey(identity: Omit<SubscriberIdentity, "sessionId" | "signInSessionId">): string {
  const orgs = [...identity.organizationIds].sort().join(",");
  const meta = Object.entries(identity.metadata)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  return `${orgs}|${meta}`;
}

/** True when both are entitled to exactly the same events. */
export function sameEntitlements(
  a: Omit<SubscriberIdentity, "sessionId" | "signInSessionId">,
  b: Omit<SubscriberIdentity, "sessionId" | "signInSessionId">,
): boolean {
  return a.userId === b.userId && sortedKey(a) === sortedKey(b);
}
