"use client";

import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import { httpBatchStreamLink, httpSubscriptionLink, loggerLink, splitLink } from "@trpc/client";
import { createTRPCReact } from "@trpc/react-query";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { createContext, useEffect, useState } from "react";
import SuperJSON from "superjson";

import { env } from "~/env";
import type { AppRouter } from "~/server/api/root";
import type { EventName } from "~/server/events";
import { createQueryClient } from "./query-client";
import { backoffEventSource } from "./backoff-event-source";
import { liveBindings } from "./live-bindings";
import { LiveQueryCache } from "./live/live-query-cache";
import { sharedSubscriptionLink } from "./shared-subscription-link";
import { getTabId } from "./tab-id";

let clientQueryClientSingleton: QueryClient | undefined = undefined;
const getQueryClient = () => {
  if (typeof window === "undefined") return createQueryClient();
  return (clientQueryClientSingleton ??= createQueryClient());
};

export const api = createTRPCReact<AppRouter>();

/**
 * Events delivered only to subscriptions that name them (`optIn` in the
 * catalog, src/server/domain/catalog.ts; tests/unit/live-queries.test.ts
 * holds this list to it): kept here so the browser's bundle does not take
 * the catalog's schemas.
 */
export const optInEventNames: ReadonlySet<string> = new Set<EventName>(["console.sample"]);

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

function getBaseUrl() {
  if (typeof window !== "undefined") return window.location.origin;
  return `http://localhost:${process.env.PORT ?? 3000}`;
}

/**
 * The sign-in the page was rendered for, as the root layout writes it on
 * <body>: read when a subscription starts, so a sign-in without a reload
 * (a server action's redirect) shares too.
 */
const pageSignIn = () => (typeof document === "undefined" ? null : (document.body.dataset.signIn ?? null));

/** Set NEXT_PUBLIC_EVENTS_SHARED_STREAM=false to give every tab its own stream (at build time). */
const shareStreams = env.NEXT_PUBLIC_EVENTS_SHARED_STREAM;

/** The tab's live queries (src/trpc/live-bindings.ts), fed by `useLiveEvents`. */
export const LiveQueriesContext = createContext<LiveQueryCache | null>(null);

export function TRPCReactProvider(props: { children: React.ReactNode }) {
  const queryClient = getQueryClient();
  const [liveQueries] = useState(() => new LiveQueryCache(queryClient, liveBindings));
  useEffect(() => () => liveQueries.dispose(), [liveQueries]);
  const [trpcClient] = useState(() =>
    api.createClient({
      links: [
        loggerLink({
          enabled: (op) =>
            process.env.NODE_ENV === "development" || (op.direction === "down" && op.result instanceof Error),
        }),
        splitLink({
          condition: (op) => op.type === "subscription",
          // Subscriptions over Server-Sent Events; the browser's EventSource
          // sends the session cookie (same origin) and reconnects on its own,
          // and the link resumes from the last tracked id.
          // All tabs of a sign-in share one stream (browsers allow six HTTP/1.1
          // connections per site); where they cannot, each tab has its own.
          true: sharedSubscriptionLink({
            path: "events.onEvent",
            signIn: pageSignIn,
            tabId: getTabId,
            enabled: shareStreams,
            // The shared stream carries every event but the opt-in ones: asking for one takes a stream of its own.
            shares: (input) => !input?.names?.some((name) => optInEventNames.has(name)),
            link: httpSubscriptionLink({
              url: `${getBaseUrl()}/api/trpc`,
              transformer: SuperJSON,
              // Reconnects spread out (exponential backoff, full jitter), resuming from the last id.
              EventSource: backoffEventSource(),
              eventSourceOptions: () => ({ withCredentials: true }),
            }),
          }),
          false: httpBatchStreamLink({
            url: `${getBaseUrl()}/api/trpc`,
            transformer: SuperJSON,
            // The server refuses batches over TRPC_MAX_BATCH_SIZE (default 20); stay below it.
            maxItems: 10,
            // The tab id makes "this session" mean this tab (see tab-id.ts).
            headers: () => ({ "x-trpc-source": "nextjs-react", "x-tab-id": getTabId() }),
          }),
        }),
      ],
    }),
  );

  return (
    <QueryClientProvider client={queryClient}>
      <api.Provider client={trpcClient} queryClient={queryClient}>
        <LiveQueriesContext.Provider value={liveQueries}>{props.children}</LiveQueriesContext.Provider>
      </api.Provider>
    </QueryClientProvider>
  );
}
