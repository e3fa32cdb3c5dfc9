import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaPGlite } from "pglite-prisma-adapter";

import { compactParsers } from "~/server/pglite-parsers";
import { PreparedStatements, type StatementRunner } from "~/server/pglite-statements";

export type DatabaseKind = "postgres" | "pglite";

/**
 * With DATABASE_URL: a real PostgreSQL through node-postgres. Without it:
 * embedded PGlite (Postgres compiled to WASM) persisted under PGLITE_DATA_DIR,
 * or in memory for `memory://`. Both run the same prisma/migrations.
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
  // Queries before this finishes (or if it fails) are only slower: no value parses differently.
  let statements: PreparedStatements | undefined;
  const compacted = pglite.waitReady.then(() => compactParsers(pglite)).catch(() => undefined);
  return {
    kind: "pglite",
    factory: new PrismaPGlite(pglite),
    statements: async () => {
      await pglite.waitReady;
      return (statements ??= new PreparedStatements(pglite));
    },
    close: async () => {
      await compacted;
      await pglite.close();
    },
  };
}
