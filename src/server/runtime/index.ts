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

interface Slot {
  runtime?: Runtime;
  /** Resolved when a runtime is published (server.ts waits on it: Next runs instrumentation after `prepare`). */
  published: Promise<Runtime>;
  resolve: (runtime: Runtime) => void;
}

const KEY = Symbol.for("t3-live-events.runtime");
const holder = globalThis as typeof globalThis & { [KEY]?: Slot };

function slot(): Slot {
  let current = holder[KEY];
  if (!current) {
    let resolve!: (runtime: Runtime) => void;
    const published = new Promise<Runtime>((r) => (resolve = r));
    current = holder[KEY] = { published, resolve };
  }
  return current;
}

/** The process's runtime; throws when none was published (a module read it at import, or in a build). */
export function runtime(): Runtime {
  const current = holder[KEY]?.runtime;
  if (!current) throw new Error("the runtime is not started: src/instrumentation.ts (or a test's setup) publishes it");
  return current;
}

/** The runtime if one was published (code that also runs during `next build`). */
export function maybeRuntime(): Runtime | undefined {
  return holder[KEY]?.runtime;
}

/** Resolves with the runtime once it is published. */
export function whenPublished(): Promise<Runtime> {
  return slot().published;
}

/** Publishes the process's runtime; the first one stays (a development reload must not build another). */
export function publishRuntime(create: () => Runtime): Runtime {
  const current = slot();
  if (!current.runtime) {
    current.runtime = create();
    current.resolve(current.runtime);
  }
  return current.runtime;
}
