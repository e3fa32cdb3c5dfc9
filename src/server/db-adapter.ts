import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaPGlite } from "pglite-prisma-adapter";

export type DatabaseKind = "postgres" | "pglite";

/**
 * With DATABASE_URL: a real PostgreSQL through node-postgres. Without it:
 * embedded PGlite (Postgres compiled to WASM) persisted under PGLITE_DATA_DIR,
 * or in memory for `memory://`. Both run the same prisma/migrations.
 */
export function createAdapterFactory(options: { databaseUrl?: string; pgliteDataDir?: string }): {
  kind: DatabaseKind;
  factory: SqlMigrationAwareDriverAdapterFactory;
  close: () => Promise<void>;
} {
  if (options.databaseUrl) {
    const factory = new PrismaPg({ connectionString: options.databaseUrl });
    return { kind: "postgres", factory, close: async () => undefined };
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
  return { kind: "pglite", factory: new PrismaPGlite(pglite), close: () => pglite.close() };
}
