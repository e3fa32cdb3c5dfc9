/**
 * tRPC's own client over real HTTP against the production server: sign-in
 * through Auth.js's credentials endpoint, subscriptions with
 * httpSubscriptionLink over a spec-compliant EventSource (`eventsource`),
 * queries and mutations with httpBatchStreamLink.
 */
import { createTRPCClient, httpBatchStreamLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import { EventSource } from "eventsource";
import superjson from "superjson";
import { inject } from "vitest";

import type { AppRouter } from "~/server/api/root";
import { signIn as signInAt } from "../helpers/app-server";

export const baseUrl = () => inject("baseUrl");

/** Signs in with the demo login against the shared test server; returns the Cookie header. */
export const signIn = (email: string, password = "demo", url = baseUrl()) => signInAt(url, email, password);

/** An EventSource that sends the session cookie and counts heartbeats. */
export function cookieEventSource(cookie: string | null, counters = { pings: 0, opens: 0 }) {
  class CookieEventSource extends EventSource {
    constructor(url: string | URL, init?: ConstructorParameters<typeof EventSource>[1]) {
      super(url, {
        ...init,
        fetch: (input, fetchInit) =>
          fetch(input, { ...fetchInit, headers: { ...fetchInit.headers, ...(cookie ? { cookie } : {}) } }),
      });
      this.addEventListener("ping", () => counters.pings++);
      this.addEventListener("open", () => counters.opens++);
    }
  }
  return { EventSource: CookieEventSource, counters };
}

export function trpcClient(cookie: string | null, options: { url?: string; subscriptionUrl?: string } = {}) {
  const url = options.url ?? baseUrl();
  const source = cookieEventSource(cookie);
  const client = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: `${options.subscriptionUrl ?? url}/api/trpc`,
          transformer: superjson,
          EventSource: source.EventSource,
        }),
        false: httpBatchStreamLink({
          url: `${url}/api/trpc`,
          transformer: superjson,
          headers: () => (cookie ? { cookie } : {}),
        }),
      }),
    ],
  });
  return { client, counters: source.counters };
}
