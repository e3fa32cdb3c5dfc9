/**
 * Keeps TanStack Query's cached tRPC queries current from the live event
 * stream, through the app's bindings (bindings.ts). Components keep calling
 * `api.order.list.useQuery(input)`; a query opts out with
 * `{ meta: { live: false } }`.
 *
 * Exactness:
 * - An event for a query whose fetch is in flight waits for the fetch's
 *   result and is then applied to it: a result that already has the change
 *   keeps it (versions), one that lacks it gets it. Nothing is lost to the
 *   race, and nothing applies twice.
 * - A query with nothing cached and nothing in flight is left alone: its
 *   first fetch reads the current state.
 * - A patch that cannot apply exactly asks for a refetch; a gap, an unknown
 *   cursor or a fresh stream (which may have missed events) refetch every
 *   bound query. Each query refetches once for any number of such requests
 *   until its next result, whose own late events are then applied to it. A
 *   request during a query's first fetch (which TanStack joins rather than
 *   restarts) reads again once that fetch lands.
 */
import type { Query, QueryClient, QueryKey } from "@tanstack/react-query";

import type { LiveEvent } from "~/server/events";
import { keep, refetch, type AnyLiveBindings } from "./bindings";

type Patch = (data: unknown, event: LiveEvent, input: unknown) => unknown;

/** tRPC's query key (`TRPCQueryKey`): the path's segments, then `{ input, type }`. */
const keyOf = (path: string): QueryKey => [path.split("."), { type: "query" }];
const inputOf = (query: Query) => (query.queryKey[1] as { input?: unknown } | undefined)?.input;

export interface LiveQueryCacheStats {
  /** Patches applied to cached data. */
  applied: number;
  /** Events kept out (duplicates, other lists' concerns). */
  kept: number;
  /** Refetches asked for (each query at most once until its next result). */
  refetches: number;
}

export class LiveQueryCache {
  /** Events that arrived while a query's fetch was in flight, by query hash. */
  private readonly waiting = new Map<string, LiveEvent[]>();
  /** Queries asked to refetch whose result has not arrived yet. */
  private readonly refetching = new Set<string>();
  /** Queries asked to refetch during their first fetch: they read again once it lands. */
  private readonly afterFirstFetch = new Set<string>();
  private readonly unsubscribe: () => void;
  /** The bound query paths of each event name, worked out once. */
  private readonly pathsByEvent = new Map<string, string[]>();
  readonly stats: LiveQueryCacheStats = { applied: 0, kept: 0, refetches: 0 };

  constructor(
    private readonly client: QueryClient,
    private readonly bindings: AnyLiveBindings,
  ) {
    for (const [path, patches] of Object.entries(bindings)) {
      for (const name of Object.keys(patches)) {
        const paths = this.pathsByEvent.get(name) ?? [];
        paths.push(path);
        this.pathsByEvent.set(name, paths);
      }
    }
    this.unsubscribe = client.getQueryCache().subscribe((event) => {
      if (event.type !== "updated") return;
      const query = event.query as Query;
      if (event.action.type === "success" || event.action.type === "error") {
        if (this.afterFirstFetch.delete(query.queryHash)) {
          // That result may predate what asked; the read it starts now does not. Events that
          // arrived meanwhile are in it, and later ones wait for it as usual.
          this.waiting.delete(query.queryHash);
          this.invalidate(query);
          return;
        }
        this.refetching.delete(query.queryHash);
        const late = this.waiting.get(query.queryHash);
        this.waiting.delete(query.queryHash);
        if (late && event.action.type === "success") for (const e of late) this.applyTo(query, e);
      }
    });
  }

  /** Applies one event from the stream to every cached query bound to it. */
  apply(event: LiveEvent): void {
    for (const path of this.pathsByEvent.get(event.name) ?? []) {
      for (const query of this.bound(path)) this.applyTo(query, event);
    }
  }

  /** Events may have been missed (a gap, an unknown cursor, a stream that started afresh): every bound query refetches. */
  resync(): void {
    for (const path of Object.keys(this.bindings)) for (const query of this.bound(path)) this.refetch(query);
  }

  dispose(): void {
    this.unsubscribe();
  }

  private bound(path: string): Query[] {
    return this.client
      .getQueryCache()
      .findAll({ queryKey: keyOf(path) })
      .filter((query) => (query.meta as { live?: boolean } | undefined)?.live !== false);
  }

  private applyTo(query: Query, event: LiveEvent): void {
    const path = (query.queryKey[0] as string[]).join(".");
    const patch = this.bindings[path]?.[event.name];
    if (!patch) return;
    if (query.state.fetchStatus === "fetching") {
      const late = this.waiting.get(query.queryHash) ?? [];
      late.push(event);
      this.waiting.set(query.queryHash, late);
      return;
    }
    if (query.state.data === undefined) return;
    const result = patch === "refetch" ? refetch : (patch as Patch)(query.state.data, event, inputOf(query));
    if (result === keep) {
      this.stats.kept++;
    } else if (result === refetch) {
      this.refetch(query);
    } else {
      this.stats.applied++;
      this.client.setQueryData(query.queryKey, result);
    }
  }

  private refetch(query: Query): void {
    if (this.refetching.has(query.queryHash)) return;
    this.refetching.add(query.queryHash);
    this.stats.refetches++;
    // TanStack joins a first fetch in flight (nothing cached) instead of restarting it, and
    // that fetch may predate the events that asked: read again when it lands.
    if (query.state.fetchStatus === "fetching" && query.state.data === undefined) {
      this.afterFirstFetch.add(query.queryHash);
      return;
    }
    this.invalidate(query);
  }

  private invalidate(query: Query): void {
    // A later fetch in flight may predate the events that asked: it is cancelled and started again.
    void this.client.invalidateQueries({ queryKey: query.queryKey, exact: true }, { cancelRefetch: true });
  }
}
