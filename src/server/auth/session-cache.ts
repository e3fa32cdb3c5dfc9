/**
 * Decoded session tokens, kept briefly so a burst of requests and stream
 * connects with one cookie pays Auth.js's decryption once. Ending a sign-in
 * forgets its entries at once.
 *
 * Bounded in entries, time and bytes: an entry is keyed by the token's
 * SHA-256 digest (never the token itself, which a client chooses and may make
 * kilobytes long) and holds one decoded session, so 10,000 entries stay
 * within a few megabytes whatever the cookies sent.
 */
import { createHash } from "node:crypto";
import type { Session } from "next-auth";

import { runtime } from "~/server/runtime";

export interface SessionCacheEntry {
  session: Promise<Session | null>;
  until: number;
  sessionId?: string;
}

const MAX_ENTRIES = 10_000;
/** The runtime keeps the entries: every bundle of the process shares them. */
const entriesOf = () => runtime().sessionCache;

const keyOf = (token: string) => createHash("sha256").update(token).digest("base64url");

export function cachedSession(token: string, now: number): Promise<Session | null> | undefined {
  const entries = entriesOf();
  const key = keyOf(token);
  const hit = entries.get(key);
  if (hit && hit.until <= now) entries.delete(key);
  return hit && hit.until > now ? hit.session : undefined;
}

export function cacheSession(token: string, session: Promise<Session | null>, until: number): void {
  const entries = entriesOf();
  const key = keyOf(token);
  const entry: SessionCacheEntry = { session, until };
  entries.delete(key);
  entries.set(key, entry);
  if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  session.then(
    (s) => {
      if (!s) return;
      entry.sessionId = s.sessionId;
      // Never past the token's own end.
      if (s.tokenExpires) entry.until = Math.min(entry.until, Date.parse(s.tokenExpires));
    },
    () => entries.delete(key),
  );
}

/** Forgets every cached token of these sign-ins (they were just ended). */
export function forgetSessions(sessionIds: ReadonlySet<string>): void {
  const entries = entriesOf();
  for (const [token, entry] of entries) {
    if (entry.sessionId && sessionIds.has(entry.sessionId)) entries.delete(token);
  }
}
