import type { IncomingHttpHeaders } from "node:http";
import type { GetServerSidePropsContext } from "next";
import NextAuth, { type Session } from "next-auth";
import { cache } from "react";

import { authConfig } from "./config";

const { auth: uncachedAuth, handlers, signIn, signOut } = NextAuth(authConfig);

/** Deduplicated per request in React Server Components. */
const auth = cache(uncachedAuth);

/**
 * The session of a plain Node request (the SSE fast path runs outside Next's
 * request scope), read by Auth.js's own code through its API-route form. A
 * refreshed cookie is dropped, as it is for `auth()` in a route handler.
 */
function sessionOfRequest(headers: IncomingHttpHeaders): Promise<Session | null> {
  const context = { req: { headers }, res: { headers: new Headers() } };
  return uncachedAuth(context as unknown as GetServerSidePropsContext);
}

export { auth, handlers, sessionOfRequest, signIn, signOut };
