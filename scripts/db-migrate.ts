/**
 * `npm run db:migrate`: applies prisma/migrations and seeds the demo users, on
 * the embedded PGlite database (default) or on DATABASE_URL. Works offline;
 * `prisma migrate deploy` is equivalent where the native engine is available.
 */
import nextEnv from "@next/env";

import { createAdapterFactory } from "~/server/db/adapter";
import { applyMigrations } from "~/server/db/migrations";
import { seedDemoData } from "~/server/db/seed";
import { PrismaClient } from "~/generated/prisma/client";

// `--production` (used by `npm start`): behave as in production even when
// NODE_ENV is not set in the shell.
const production = process.argv.includes("--production") || process.env.NODE_ENV === "production";

// Same .env files, same precedence as Next.js.
nextEnv.loadEnvConfig(process.cwd(), !production);

/** Demo users exist where the demo login can be used, unless SEED_DEMO_DATA says otherwise. */
function shouldSeed(): boolean {
  const explicit = process.env.SEED_DEMO_DATA;
  if (explicit) return explicit === "true";
  const demoLogin = process.env.AUTH_DEMO_LOGIN;
  if (demoLogin) return demoLogin === "true";
  return !production;
}

async function main() {
  // An empty value means unset, as in env.js.
  const fromEnv = (name: string) => (process.env[name] === "" ? undefined : process.env[name]);
  const pgliteDataDir = fromEnv("PGLITE_DATA_DIR") ?? ".data/pglite";
  const handle = createAdapterFactory({
    databaseUrl: fromEnv("DATABASE_URL"),
    pgliteDataDir,
  });
  const where = handle.kind === "postgres" ? "PostgreSQL (DATABASE_URL)" : `PGlite (${pgliteDataDir})`;
  const applied = await applyMigrations(handle.factory);
  console.log(
    applied.length ? `db:migrate: applied ${applied.join(", ")} on ${where}` : `db:migrate: ${where} is up to date`,
  );
  if (shouldSeed()) {
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
