/**
 * Extra members of the demo organisation "Acme" for the benchmark's
 * new-session phase (`load-<i>@acme.test`, password "demo"), so that each
 * connect after a "deploy" is a user the process has not seen: session
 * decoding, the sign-in check and the entitlement lookup all included.
 * Run with the server's environment after the migrations, before it starts
 * (the embedded database has one owner at a time).
 */
import { createAdapterFactory } from "~/server/db/adapter";
import { hashPassword } from "~/server/auth/password";
import { DEMO_PASSWORD } from "~/server/db/seed";
import { PrismaClient } from "~/generated/prisma/client";

async function main() {
  const count = Number(process.argv[2] ?? 0);
  // The benchmark's server always runs on its own embedded database (startApp sets both).
  const handle = createAdapterFactory({ databaseUrl: undefined, pgliteDataDir: process.env.PGLITE_DATA_DIR! });
  const prisma = new PrismaClient({ adapter: handle.factory });
  const acme = await prisma.organization.findUniqueOrThrow({ where: { slug: "acme" } });
  const passwordHash = await hashPassword(DEMO_PASSWORD); // one hash for all: sign-in cost is not measured
  const ids = Array.from({ length: count }, (_, i) => `load-user-${i}`);
  await prisma.user.createMany({
    data: ids.map((id, i) => ({ id, email: `load-${i}@acme.test`, name: `Load ${i}`, passwordHash })),
    skipDuplicates: true,
  });
  await prisma.membership.createMany({
    data: ids.map((userId) => ({ userId, organizationId: acme.id, role: "MEMBER" as const })),
    skipDuplicates: true,
  });
  await prisma.$disconnect();
  await handle.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("seed-users failed:", error);
    process.exit(1);
  },
);
