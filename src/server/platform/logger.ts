import pino from "pino";

import { env } from "~/env";

/** Structured JSON logs on stdout (one object per line), for any log shipper. */
export const logger = pino({
  level: env.LOG_LEVEL,
  base: { service: "t3-live-events" },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

export type Logger = typeof logger;

/** Logs a reason the process cannot run and exits with status 1. */
export function exitFatally(event: string, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  logger.fatal({ event, message }, message);
  process.exit(1);
}
