import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory, SqlQueryable } from "@prisma/driver-adapter-utils";
import { PrismaPGlite } from "pglite-prisma-adapter";

export type DatabaseKind = "postgres" | "pglite";

/** What runs a statement without result rows and answers how many rows it changed. */
export type StatementRunner = Pick<SqlQueryable, "executeRaw">;

/**
 * With DATABASE_URL: a real PostgreSQL through node-postgres. Without it:
 * embedded PGlite (Postgres compiled to WASM) persisted under PGLITE_DATA_DIR,
 * or in memory for `memory://`. Both run the same prisma/migrations, and both
 * are used only through their public APIs and Prisma's driver adapters.
 */
export function createAdapterFactory(options: { databaseUrl?: string; pgliteDataDir?: string }): {
  kind: DatabaseKind;
  factory: SqlMigrationAwareDriverAdapterFactory;
  /** For statements that run often and return no rows (the replay log's insert), connected on call. */
  statements: () => Promise<StatementRunner>;
  close: () => Promise<void>;
} {
  if (options.databaseUrl) {
    const factory = new PrismaPg({ connectionString: options.databaseUrl });
    return { kind: "postgres", factory, statements: () => factory.connect(), close: async () => undefined };
  }
  const dataDir = options.pgliteDataDir ?? ".data/pglite";
  let pglite: PGlite;
  if (dataDir.startsWith("memory://")) {
    pglite = new PGlite(dataDir);
  } else {
    // PGlite does not create missing parent folders.
    const absolute = resolve(/*turbopackIgnore: true*/ dataDir);
    mkdirSync(absolute, { recursive: true });
    pglite = new PGlite(absolute);
  }
  const factory = new PrismaPGlite(pglite);
  return {
    kind: "pglite",
    factory,
    statements: () => factory.connect(),
    close: () => pglite.close(),
  };
}
