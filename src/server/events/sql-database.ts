/**
 * What the database replay log needs from a PostgreSQL-compatible database
 * (PostgreSQL, or PGlite embedded): parameterised statements (`$1`, `$2`…)
 * with text and number parameters, rows as plain objects. The app adapts
 * Prisma to it (src/server/db/sql.ts), so the log speaks SQL and nothing else.
 *
 * The log's tables (`EventLogEntry`, `EventLogMark`) come from the app's
 * migrations: see prisma/schema.prisma.
 */
export type SqlParameter = string | number | null;

export interface SqlDatabase {
  /** Runs a statement that returns rows. */
  query<T extends object>(sql: string, params: readonly SqlParameter[]): Promise<T[]>;
  /** Runs a statement without result rows; resolves with how many rows it changed. */
  execute(sql: string, params: readonly SqlParameter[]): Promise<number>;
}
