import { env } from "~/env";
import { PrismaClient } from "~/generated/prisma/client";
import { createAdapterFactory } from "~/server/db-adapter";

type DatabaseHandle = ReturnType<typeof createAdapterFactory> & { prisma: PrismaClient };

// One handle per process: Next.js may evaluate this module once per route
// bundle (and again on every dev reload), and a PGlite data folder must have
// exactly one owner.
const globalForDb = globalThis as unknown as { __t3LiveEventsDb?: DatabaseHandle };

/**
 * Opened on first use, not on import: `next build` imports route modules in
 * several workers, and none of them may open (or create) the database.
 */
export function getDatabase(): DatabaseHandle {
  if (!globalForDb.__t3LiveEventsDb) {
    const handle = createAdapterFactory({ databaseUrl: env.DATABASE_URL, pgliteDataDir: env.PGLITE_DATA_DIR });
    const prisma = new PrismaClient({
      adapter: handle.factory,
      log: env.NODE_ENV === "development" ? ["error", "warn"] : ["error"],
    });
    globalForDb.__t3LiveEventsDb = { ...handle, prisma };
  }
  return globalForDb.__t3LiveEventsDb;
}

/** The Prisma client (T3's `db`), opened lazily. */
export const db: PrismaClient = new Proxy({} as PrismaClient, {
  get(_target, property) {
    const client = getDatabase().prisma;
    const value: unknown = Reflect.get(client, property, client);
    return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(client) : value;
  },
});
