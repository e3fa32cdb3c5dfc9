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

/**
 * Reads a subscriber's current entitlements. Returns null when the session no
 * longer entitles anyone (user deleted, session ended); the subscription then
 * ends with UNAUTHORIZED. Called at subscribe time and on re-authorisation.
 */
export type SubscriberResolver = (
  session: SubscriberSession,
  tabId: string | null,
) => Promise<ResolvedSubscriber | null>;

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

function sortedKey(identity: SubscriberIdentity): string {
  const orgs = [...identity.organizationIds].sort().join(",");
  const meta = Object.entries(identity.metadata)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  return `${orgs}|${meta}`;
}

/** True when both identities are entitled to exactly the same events. */
export function sameEntitlements(a: SubscriberIdentity, b: SubscriberIdentity): boolean {
  return a.userId === b.userId && sortedKey(a) === sortedKey(b);
}
