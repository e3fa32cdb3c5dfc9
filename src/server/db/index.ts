/**
 * The app's database: Prisma on PostgreSQL (DATABASE_URL) or on embedded
 * PGlite. The runtime opens it once per process (src/server/runtime); `db`
 * is T3's familiar import, reading the runtime's client.
 */
import { env } from "~/env";
import { PrismaClient } from "~/generated/prisma/client";
import { runtime } from "~/server/runtime";
import { createAdapterFactory } from "./adapter";

export type DatabaseHandle = ReturnType<typeof createAdapterFactory> & { prisma: PrismaClient };

/**
 * Opens the database. The runtime calls this on first use, not at start-up:
 * `next build` imports route modules in several workers, and none of them may
 * open (or create) the database.
 */
export function openDatabase(): DatabaseHandle {
  const handle = createAdapterFactory({ databaseUrl: env.DATABASE_URL, pgliteDataDir: env.PGLITE_DATA_DIR });
  const prisma = new PrismaClient({
    adapter: handle.factory,
    log: env.NODE_ENV === "development" ? ["error", "warn"] : ["error"],
  });
  return { ...handle, prisma };
}

/** The process's database handle. */
export const getDatabase = (): DatabaseHandle => runtime().database;

/** The Prisma client (T3's `db`). */
export const db: PrismaClient = new Proxy({} as PrismaClient, {
  get(_target, property) {
    const client = runtime().database.prisma;
    const value: unknown = Reflect.get(client, property, client);
    return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(client) : value;
  },
});
