import pino from "pino";

/** Structured JSON logs on stdout (one object per line), for any log shipper. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "silent" : "info"),
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
