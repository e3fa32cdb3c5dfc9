/**
 * The process's runtime, read by everything that needs a shared dependency.
 *
 * Next.js evaluates a server module once per bundle (instrumentation, each
 * route), and server.ts runs outside all of them; yet they must share one
 * database handle, one event layer, one set of limits and caches. So the
 * runtime is built once (src/instrumentation.ts calls `createRuntime`) and
 * published under this one key, the only `globalThis` entry the app writes.
 * This file imports nothing but the type, so any bundle can read it cheaply.
 */
import type { Runtime } from "./runtime";

export type { Runtime } from "./runtime";

const KEY = Symbol.for("t3-live-events.runtime");
const holder = globalThis as typeof globalThis & { [KEY]?: Runtime };

/** The process's runtime; throws when none was published (a module read it at import, or in a build). */
export function runtime(): Runtime {
  const current = holder[KEY];
  if (!current) throw new Error("the runtime is not started: src/instrumentation.ts (or a test's setup) publishes it");
  return current;
}

/** The runtime if one was published (code that also runs during `next build`). */
export function maybeRuntime(): Runtime | undefined {
  return holder[KEY];
}

/** Publishes the process's runtime; the first one stays (a development reload must not build another). */
export function publishRuntime(create: () => Runtime): Runtime {
  return (holder[KEY] ??= create());
}

/** Replaces the published runtime (tests); returns the previous one. */
export function replaceRuntime(next: Runtime | undefined): Runtime | undefined {
  const previous = holder[KEY];
  if (next) holder[KEY] = next;
  else delete holder[KEY];
  return previous;
}
