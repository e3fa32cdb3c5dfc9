/**
 * The logging seam: structured fields first, then a message (pino's shape,
 * without depending on pino). Fields never carry secrets, tokens or emails.
 */
export interface EventLayerLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentLogger: EventLayerLogger = { debug() {}, info() {}, warn() {}, error() {} };
