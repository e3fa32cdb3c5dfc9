/**
 * tRPC's own client over real HTTP against the production server: sign-in
 * through Auth.js's credentials endpoint, subscriptions with
 * httpSubscriptionLink over a spec-compliant EventSource (`eventsource`),
 * queries and mutations with httpBatchStreamLink.
 */
import {
  createTRPCClient,
  httpBatchStreamLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClientError,
} from "@trpc/client";
import { EventSource } from "eventsource";
import superjson from "superjson";
import { inject } from "vitest";

import type { AppRouter } from "~/server/api/root";
import type { LiveEvent } from "~/server/events";
import { backoffEventSource } from "~/trpc/backoff-event-source";
import { signIn as signInAt } from "../helpers/app-server";
import { waitUntil } from "../helpers/wait";

export const baseUrl = () => inject("baseUrl");

/** Signs in with the demo login against the shared test server; returns the Cookie header. */
export const signIn = (email: string, password = "demo", url = baseUrl()) => signInAt(url, email, password);

/** Which server code serves the stream: the SSE fast path (default) or tRPC's stock handler. */
export type StreamTransport = "fast" | "trpc";

/** An EventSource that sends the session cookie and counts heartbeats. */
export function cookieEventSource(
  cookie: string | null,
  counters = { pings: 0, opens: 0 },
  transport: StreamTransport = "fast",
  headers: Record<string, string> = {},
) {
  const extra: Record<string, string> = {
    ...headers,
    ...(cookie ? { cookie } : {}),
    ...(transport === "trpc" ? { "x-events-transport": "trpc" } : {}),
  };
  class CookieEventSource extends EventSource {
    constructor(url: string | URL, init?: ConstructorParameters<typeof EventSource>[1]) {
      super(url, {
        ...init,
        fetch: (input, fetchInit) => fetch(input, { ...fetchInit, headers: { ...fetchInit.headers, ...extra } }),
      });
      this.addEventListener("ping", () => counters.pings++);
      this.addEventListener("open", () => counters.opens++);
    }
  }
  return { EventSource: CookieEventSource, counters };
}

export function trpcClient(
  cookie: string | null,
  options: {
    url?: string;
    subscriptionUrl?: string;
    transport?: StreamTransport;
    /** Sent with every request (e.g. X-Forwarded-For to a server that trusts one proxy). */
    headers?: Record<string, string>;
    /**
     * Reconnect as the app's pages do (backoff with jitter, also after an
     * error response such as a proxy's 502), not as a bare EventSource
     * (which gives up on any non-200).
     */
    backoff?: boolean;
  } = {},
) {
  const url = options.url ?? baseUrl();
  const source = cookieEventSource(cookie, undefined, options.transport, options.headers);
  const client = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: `${options.subscriptionUrl ?? url}/api/trpc`,
          transformer: superjson,
          EventSource: options.backoff
            ? (backoffEventSource({
                EventSource: source.EventSource as unknown as typeof globalThis.EventSource,
              }) as unknown as typeof source.EventSource)
            : source.EventSource,
        }),
        false: httpBatchStreamLink({
          url: `${url}/api/trpc`,
          transformer: superjson,
          headers: () => ({ ...options.headers, ...(cookie ? { cookie } : {}) }),
          // As the app's own client (src/trpc/react.tsx): within the server's TRPC_MAX_BATCH_SIZE.
          maxItems: 10,
        }),
      }),
    ],
  });
  return { client, counters: source.counters };
}

type Client = ReturnType<typeof trpcClient>["client"];
export const until = (
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  /** How often to check: small when the wait itself is measured. */
  intervalMs?: number,
) => waitUntil(predicate, what, { timeoutMs, intervalMs });

/** Subscribes with tRPC's client and records what arrives. */
export function live(client: Client, input: { names?: LiveEvent["name"][]; lastEventId?: string | null } = {}) {
  const received: { id: string; event: LiveEvent }[] = [];
  const errors: TRPCClientError<AppRouter>[] = [];
  const subscription = client.events.onEvent.subscribe(input, {
    onData: ({ id, data }) => received.push({ id, event: data }),
    onError: (error) => errors.push(error),
  });
  const count = (name: LiveEvent["name"]) => received.filter((r) => r.event.name === name).length;
  return {
    received,
    errors,
    events: () => received.filter((r) => !r.event.name.startsWith("system.")),
    count,
    ready: (n = 1) => until(() => count("system.ready") >= n, `system.ready ×${n}`),
    waitFor: (name: LiveEvent["name"], n = 1) => until(() => count(name) >= n, `${name} ×${n}`),
    unsubscribe: () => subscription.unsubscribe(),
  };
}

export type Received = { id: string; event: LiveEvent };

/** The messages of the notifications received, in order. */
export const messages = (received: { event: LiveEvent }[]) =>
  received.flatMap((r) => (r.event.name === "notification.created" ? [r.event.data.message] : []));
