/**
 * Makes the SSE fast path available to the custom server (server.js), which
 * runs outside Next's bundles: instrumentation calls this once at start-up,
 * inside the bundle where Auth.js, Prisma and the tRPC router live.
 */
import { env } from "~/env";
import { createSseFastPath, type SseFastPath } from "./fast-path";

const SSE_KEY = "__t3LiveEventsSse";

export function installSseFastPath(): SseFastPath {
  const holder = globalThis as unknown as Record<typeof SSE_KEY, SseFastPath | undefined>;
  return (holder[SSE_KEY] ??= createSseFastPath({
    maxBacklogBytes: env.EVENTS_MAX_BACKLOG_BYTES,
    stallTimeoutMs: env.EVENTS_STALL_TIMEOUT_MS,
  }));
}
