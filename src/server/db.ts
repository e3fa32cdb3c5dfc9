import { env } from "~/env";
import { PrismaClient } from "~/generated/prisma/client";
import { createAdapterFactory } from "~/server/db-adapter";

type DatabaseHandle = ReturnType<typeof createAdapterFactory> & { prisma: PrismaClient };

// One handle per process: Next.js may evaluate this module once per route
// bundle (and again on every dev reload), and a PGlite data folder must have
// exactly one owner.
const globalForDb = globalThis as unknown as { __t3LiveEventsDb?: DatabaseHandle };

function openDatabase(): DatabaseHandle {
  const handle = createAdapterFactory({
    databaseUrl: env.DATABASE_URL,
    pgliteDataDir: env.PGLITE_DATA_DIR,
  });
  const prisma = new PrismaClient({
    adapter: handle.factory,
    log: env.NODE_ENV === "development" ? ["error", "warn"] : ["error"],
  });
  return { ...handle, prisma };
}

export const database: DatabaseHandle = (globalForDb.__t3LiveEventsDb ??= openDatabase());
export const db = database.prisma;
