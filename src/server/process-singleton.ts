/**
 * One value per Node process. Next.js evaluates a module once per route
 * bundle (and the SSE fast path runs in the instrumentation bundle), so state
 * that must be shared (caches that a sign-out clears, throttles) lives on
 * globalThis under a fixed key instead of in a module variable.
 */
export function processSingleton<T>(key: string, create: () => T): T {
  const store = globalThis as unknown as Record<string, T | undefined>;
  return (store[`__t3LiveEvents:${key}`] ??= create());
}
