import type { IncomingHttpHeaders } from "node:http";
import { skipCSRFCheck } from "@auth/core";
import type { GetServerSidePropsContext } from "next";
import NextAuth, { type Session } from "next-auth";
import { cache } from "react";

import { env } from "~/env";
import { authConfig } from "./config";
import { cacheSession, cachedSession } from "./session-cache";

const { auth: uncachedAuth, handlers, signIn, signOut } = NextAuth(authConfig);

/**
 * The same Auth.js, configuration and callbacks, for reads whose refreshed
 * cookie is never sent (API requests and streams, below): its `jwt.encode`
 * skips re-encrypting the token, which is a third of what decoding a new
 * session costs. Decryption, checks and callbacks are Auth.js's as ever.
 *
 * It only ever reads sessions (no route serves its actions), so it makes no
 * CSRF token either: Auth.js hashes one on every read otherwise, for a cookie
 * that is dropped. Sign-in and sign-out go through the instance above, with
 * Auth.js's CSRF check.
 */
const { auth: readSession } = NextAuth({
  ...authConfig,
  jwt: { encode: () => Promise.resolve("") },
  skipCSRFCheck,
});

/** Deduplicated per request in React Server Components. */
const auth = cache(uncachedAuth);

// Auth.js's session cookie, possibly chunked (`.0`, `.1`, …), with or without the secure prefix.
const SESSION_COOKIE = /(?:^|;\s*)(?:__Secure-)?authjs\.session-token(?:\.(\d+))?=([^;]*)/g;
/**
 * Our session token is a JWE in compact form (five base64url parts, the key
 * part empty) of well under a kilobyte; Auth.js chunks a cookie above 4 KB.
 * Anything longer or of another shape is not a session of ours, and is
 * refused before any key derivation or decryption.
 */
export const MAX_SESSION_TOKEN_BYTES = 8 * 1024;
const JWE_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The session token a Cookie header carries (chunks joined in order), or null when it cannot be one. */
export function sessionTokenOf(cookieHeader: string | undefined): string | null {
  if (!cookieHeader) return null;
  const chunks = [...cookieHeader.matchAll(SESSION_COOKIE)]
    .map((m) => ({ index: m[1] === undefined ? 0 : Number(m[1]), value: m[2] ?? "" }))
    .sort((a, b) => a.index - b.index);
  if (chunks.length === 0 || chunks.length > 4) return null;
  const token = chunks.map((chunk) => chunk.value).join("");
  return token.length <= MAX_SESSION_TOKEN_BYTES && JWE_COMPACT.test(token) ? token : null;
}

/**
 * The session of a plain Node request (the SSE fast path runs outside Next's
 * request scope), read by Auth.js's own code through its API-route form. A
 * refreshed cookie is dropped, as it is for `auth()` in a route handler, so
 * it is not even made (readSession).
 *
 * Decoding a session costs a key derivation and a decryption, most of a
 * millisecond; a reconnect storm would pay it per stream. So a decoded token
 * is reused for AUTH_SESSION_CACHE_MS (default 5 s), keyed by its digest
 * (session-cache.ts).
 */
function sessionOfRequest(headers: IncomingHttpHeaders): Promise<Session | null> {
  const token = sessionTokenOf(headers.cookie);
  if (!token) return Promise.resolve(null);
  const now = Date.now();
  const hit = cachedSession(token, now);
  if (hit) return hit.then(unexpired);
  const context = { req: { headers }, res: { headers: new Headers() } };
  const session = readSession(context as unknown as GetServerSidePropsContext);
  cacheSession(token, session, now + env.AUTH_SESSION_CACHE_MS);
  return session.then(unexpired);
}

/**
 * Auth.js accepts a token up to 15 s past its end (clock tolerance); requests
 * and streams stop at the end itself, so they agree with each other.
 */
function unexpired(session: Session | null): Session | null {
  return session?.tokenExpires && Date.parse(session.tokenExpires) <= Date.now() ? null : session;
}

export { auth, handlers, sessionOfRequest, signIn, signOut };
