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
const SESSION_COOKIE = /(?:^|;\s*)(?:__Secure-)?authjs\.session-token(?:\.\d+)?=([^;]*)/g;

/**
 * The session of a plain Node request (the SSE fast path runs outside Next's
 * request scope), read by Auth.js's own code through its API-route form. A
 * refreshed cookie is dropped, as it is for `auth()` in a route handler, so
 * it is not even made (readSession).
 *
 * Decoding a session costs a key derivation and a decryption, most of a
 * millisecond; a reconnect storm would pay it per stream. So a decoded token
 * is reused for AUTH_SESSION_CACHE_MS (default 5 s), keyed by the token itself.
 */
function sessionOfRequest(headers: IncomingHttpHeaders): Promise<Session | null> {
  const tokens = [...(headers.cookie ?? "").matchAll(SESSION_COOKIE)].map((m) => m[1]).join(";");
  if (!tokens) return Promise.resolve(null);
  const now = Date.now();
  const hit = cachedSession(tokens, now);
  if (hit) return hit.then(unexpired);
  const context = { req: { headers }, res: { headers: new Headers() } };
  const session = readSession(context as unknown as GetServerSidePropsContext);
  cacheSession(tokens, session, now + env.AUTH_SESSION_CACHE_MS);
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
