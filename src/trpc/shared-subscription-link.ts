"use client";

/**
 * A tRPC link that serves one subscription path (`events.onEvent`) from one
 * stream per browser, shared by all tabs of the sign-in (shared-stream.ts).
 * It sits where `httpSubscriptionLink` was and uses it underneath: the
 * leader tab opens its stream through it, and every tab falls back to it
 * (one stream per tab) where sharing is unavailable or turned off.
 * Components do not change: `useSubscription` sees the same results
 * (`started`, connection states, tracked `{ id, data }` items, errors).
 */
import { TRPCClientError, type TRPCLink } from "@trpc/client";
import type { AnyRouter } from "@trpc/server";
import { observable } from "@trpc/server/observable";

import type { LiveEvent } from "~/server/events";
import { SharedStream, errorShapeOf, setCurrentSharedStream, type StreamItem } from "./shared-stream";

export interface SharedSubscriptionLinkOptions<TRouter extends AnyRouter> {
  /** The subscription whose streams the tabs share. */
  path: string;
  /** The sign-in the page was rendered for; null (signed out) or sharing off: one stream per tab. */
  signIn: () => string | null;
  tabId: () => string;
  /** The link that opens real streams (httpSubscriptionLink). */
  link: TRPCLink<TRouter>;
  enabled?: boolean;
  /**
   * Whether a subscription with this input can be served from the shared
   * stream (which carries every event that is not opt-in). Default: all.
   */
  shares?: (input: Input) => boolean;
}

export type Input = { names?: string[]; lastEventId?: string | null } | undefined;

let nextOperationId = -1;

export function sharedSubscriptionLink<TRouter extends AnyRouter>(
  options: SharedSubscriptionLinkOptions<TRouter>,
): TRPCLink<TRouter> {
  return (runtime) => {
    const inner = options.link(runtime);
    let shared: SharedStream | null = null;

    const streamFor = (signIn: string): SharedStream => {
      if (shared?.signIn !== signIn) {
        shared = new SharedStream({
          signIn,
          tabId: options.tabId(),
          open: (lastEventId, handlers) => {
            const subscription = inner({
              // Negative ids never meet the client's own operation ids.
              op: {
                id: nextOperationId--,
                type: "subscription",
                path: options.path,
                input: { allTabsOf: signIn, lastEventId },
                context: {},
                signal: null,
              },
              next: () => {
                throw new Error("sharedSubscriptionLink must wrap a terminating link");
              },
            }).subscribe({
              next: ({ result }) => {
                if ("type" in result && result.type === "started") handlers.onState({ type: "started" });
                else if ("type" in result && result.type === "state") {
                  handlers.onState({
                    type: "state",
                    state: result.state === "idle" ? "connecting" : result.state,
                    error: result.error ? errorShapeOf(result.error) : null,
                  });
                } else if ("data" in result && result.data !== undefined) {
                  const tracked = result.data as { id: string; data: LiveEvent };
                  handlers.onItem({ id: tracked.id, event: tracked.data });
                }
              },
              error: (error) => handlers.onError(errorShapeOf(error)),
            });
            return () => subscription.unsubscribe();
          },
        });
        setCurrentSharedStream(shared);
      }
      return shared;
    };

    return ({ op, next }) => {
      const signIn = options.signIn();
      if (
        op.type !== "subscription" ||
        op.path !== options.path ||
        options.enabled === false ||
        options.shares?.(op.input as Input) === false ||
        !signIn ||
        !SharedStream.available()
      ) {
        return inner({ op, next });
      }
      const input = op.input as Input;
      return observable((observer) => {
        const detach = streamFor(signIn).attach({
          names: input?.names ? new Set(input.names) : null,
          cursor: input?.lastEventId ?? null,
          started: false,
          onItem: (item: StreamItem) =>
            observer.next({ result: { id: item.id, data: { id: item.id, data: item.event } } }),
          onState: (state) => {
            if (state.type === "started") observer.next({ result: { type: "started" } });
            else if (state.state === "pending")
              observer.next({ result: { type: "state", state: "pending", error: null } });
            else {
              const error = state.error ? TRPCClientError.from<TRouter>({ error: state.error }) : null;
              observer.next({ result: { type: "state", state: "connecting", error } });
            }
          },
          onError: (error) => observer.error(TRPCClientError.from({ error })),
        });
        return detach;
      });
    };
  };
}
