/**
 * Where the process's SSE fast path is kept: server.js (outside Next's
 * bundles) finds it under this globalThis key, and the stats procedure reads
 * it, without importing the fast path itself.
 */
import type { SseFastPath } from "./fast-path";

const KEY = "__t3LiveEventsSse";
const holder = globalThis as unknown as Record<typeof KEY, SseFastPath | undefined>;

export const getSseFastPath = (): SseFastPath | undefined => holder[KEY];

export function keepSseFastPath(create: () => SseFastPath): SseFastPath {
  return (holder[KEY] ??= create());
}
