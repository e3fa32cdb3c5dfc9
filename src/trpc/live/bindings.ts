/**
 * Live bindings: how an event changes a query's cached result, declared once
 * per query and event, and typed from both ends: the event's `data` from the
 * catalog, the query's data and input from the router. A patch that returns
 * the wrong shape, or names an event or a procedure that does not exist,
 * does not compile.
 *
 *   defineLiveBindings<AppRouter>()({
 *     "order.list": {
 *       "order.status.changed": (orders, event) => patchVersioned(orders, event.data.orderId, …),
 *       "presence.changed": "refetch",
 *     },
 *   });
 *
 * A patch returns the new data, `keep` (nothing to change: a duplicate, or
 * not this query's concern) or `refetch` (it cannot apply the event exactly:
 * an unknown entity, a version it skipped). Bindings never widen what a
 * subscriber receives: they only read the events its stream already carries.
 */
import type { AnyTRPCRouter, inferRouterInputs, inferRouterOutputs } from "@trpc/server";

import type { EventName, LiveEventOf } from "~/server/events";

/** Nothing to change. */
export const keep: unique symbol = Symbol("keep");
/** The patch cannot be applied exactly: the query refetches (once, however many events say so). */
export const refetch: unique symbol = Symbol("refetch");

export type Patched<TData> = TData | typeof keep | typeof refetch;

export type EventPatch<TData, TInput, N extends EventName> = (
  data: TData,
  event: LiveEventOf<N>,
  input: TInput,
) => Patched<TData>;

type Outputs<TRouter extends AnyTRPCRouter> = inferRouterOutputs<TRouter>;
type Inputs<TRouter extends AnyTRPCRouter> = inferRouterInputs<TRouter>;

/** `router.procedure` paths of a two-level router (the app's shape). */
export type ProcedurePath<TRouter extends AnyTRPCRouter> = {
  [R in keyof Outputs<TRouter> & string]: {
    [P in keyof Outputs<TRouter>[R] & string]: `${R}.${P}`;
  }[keyof Outputs<TRouter>[R] & string];
}[keyof Outputs<TRouter> & string];

type Split<P extends string> = P extends `${infer R}.${infer Q}` ? [R, Q] : never;
export type OutputAt<TRouter extends AnyTRPCRouter, P extends string> = Outputs<TRouter>[Split<P>[0]][Split<P>[1]];
export type InputAt<TRouter extends AnyTRPCRouter, P extends string> = Inputs<TRouter>[Split<P>[0]][Split<P>[1]];

/** Every binding of one query: a patch (or "refetch") per event name. */
export type QueryBindings<TData, TInput> = {
  [N in EventName]?: EventPatch<TData, TInput, N> | "refetch";
};

export type LiveBindings<TRouter extends AnyTRPCRouter> = {
  [P in ProcedurePath<TRouter>]?: QueryBindings<OutputAt<TRouter, P>, InputAt<TRouter, P>>;
};

/** The bindings as the cache applies them, without their types. */
export type AnyLiveBindings = Readonly<
  Record<string, Readonly<Record<string, ((data: never, event: never, input: never) => unknown) | "refetch">>>
>;

/** Declares the app's bindings, checked against the router and the catalog. */
export function defineLiveBindings<TRouter extends AnyTRPCRouter>() {
  return (bindings: LiveBindings<TRouter>): LiveBindings<TRouter> => bindings;
}

/** An entity whose changes carry its version (orders carry `version`; their events `orderVersion`). */
export interface Versioned {
  id: string;
  version: number;
}

/**
 * Applies a change that takes entity `id` to `version`, exactly once and in
 * order: a version it already has (a duplicate, a replay, the other tab's
 * copy of the event) is kept; the next version is applied; anything else (a
 * version skipped, an entity this list does not hold) asks for a refetch.
 */
export function patchVersioned<T extends Versioned>(
  rows: readonly T[],
  id: string,
  version: number | undefined,
  change: (row: T) => T,
): Patched<T[]> {
  const at = rows.findIndex((row) => row.id === id);
  if (at < 0 || version === undefined) return refetch;
  const row = rows[at]!;
  if (row.version >= version) return keep;
  if (row.version !== version - 1) return refetch;
  const next = [...rows];
  next[at] = { ...change(row), version };
  return next;
}

/**
 * Adds a new entity in the list's order (`before(a, b)`: a comes first), at
 * most `limit` long, as a fresh read of the list would return it. One it
 * already holds is kept.
 */
export function insertOrdered<T extends { id: string }>(
  rows: readonly T[],
  row: T,
  before: (a: T, b: T) => boolean,
  limit: number,
): Patched<T[]> {
  if (rows.some((existing) => existing.id === row.id)) return keep;
  let at = rows.findIndex((existing) => before(row, existing));
  if (at < 0) at = rows.length;
  if (at >= limit) return keep;
  const next = [...rows.slice(0, at), row, ...rows.slice(at)];
  return next.slice(0, limit);
}
