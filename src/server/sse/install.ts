/**
 * Makes the SSE fast path available to the custom server (server.js), which
 * runs outside Next's bundles: instrumentation calls this once at start-up,
 * inside the bundle where Auth.js, Prisma and the tRPC router live.
 */
import { env } from "~/env";
import { createSseFastPath, type SseFastPath } from "./fast-path";
import { keepSseFastPath } from "./holder";

export function installSseFastPath(): SseFastPath {
  return keepSseFastPath(() =>
    createSseFastPath({ maxBacklogBytes: env.EVENTS_MAX_BACKLOG_BYTES, stallTimeoutMs: env.EVENTS_STALL_TIMEOUT_MS }),
  );
}
