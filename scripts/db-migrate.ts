/**
 * `npm run db:migrate`: applies prisma/migrations and seeds the demo users, on
 * the embedded PGlite database (default) or on DATABASE_URL. Works offline;
 * `prisma migrate deploy` is equivalent where the native engine is available.
 */
import { createAdapterFactory } from "~/server/db-adapter";
import { applyMigrations } from "~/server/db-migrations";
import { seedDemoData } from "~/server/db-seed";
import { PrismaClient } from "~/generated/prisma/client";

async function main() {
  const handle = createAdapterFactory({
    databaseUrl: process.env.DATABASE_URL || undefined,
    pgliteDataDir: process.env.PGLITE_DATA_DIR || ".data/pglite",
  });
  const where = handle.kind === "postgres" ? "PostgreSQL (DATABASE_URL)" : `PGlite (${process.env.PGLITE_DATA_DIR || ".data/pglite"})`;
  const applied = await applyMigrations(handle.factory);
  console.log(
    applied.length ? `db:migrate: applied ${applied.join(", ")} on ${where}` : `db:migrate: ${where} is up to date`,
  );
  if (process.env.SEED_DEMO_DATA !== "false") {
    const prisma = new PrismaClient({ adapter: handle.factory });
    await seedDemoData(prisma);
    await prisma.$disconnect();
    console.log("db:migrate: demo users alice@acme.test, bob@acme.test, carol@globex.test (password: demo)");
  }
  await handle.close();
}

// Exit explicitly: the WASM schema engine keeps a timer alive for ~10 s.
main().then(
  () => process.exit(0),
  (error: unknown) => {
  console.error("db:migrate failed:", error);
    process.exit(1);
  },
);
