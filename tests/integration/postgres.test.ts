/**
 * The same migrations and data code on a real PostgreSQL (DATABASE_URL mode).
 * Needs TEST_DATABASE_URL (a role that may CREATE DATABASE); .ci/run starts
 * Debian's postgresql and sets it. Each run works in a database of its own.
 */
import { readdirSync, statSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PrismaClient } from "~/generated/prisma/client";
import { createAdapterFactory } from "~/server/db-adapter";
import { applyMigrations, migrationsDir } from "~/server/db-migrations";
import { seedDemoData } from "~/server/db-seed";
import { createOrder } from "~/server/services/orders";
import { subscriberOf } from "~/server/events";
import { prismaEntitlements } from "~/server/subscribers";
import { readSubscription } from "../helpers/event-layer";
import { createTestDatabase, testDatabaseAdminUrl } from "../helpers/postgres";
import { freshEventLayer } from "./harness";

const adminUrl = testDatabaseAdminUrl;
if (!adminUrl) {
  console.warn(
    "[postgres] SKIPPED: set TEST_DATABASE_URL to a PostgreSQL role that can CREATE DATABASE (.ci/run does)",
  );
}

describe.skipIf(!adminUrl)(
  `PostgreSQL via DATABASE_URL${adminUrl ? "" : " (skipped: TEST_DATABASE_URL is not set)"}`,
  () => {
    let database: Awaited<ReturnType<typeof createTestDatabase>>;
    let url: string;
    let prisma: PrismaClient;
    let handle: ReturnType<typeof createAdapterFactory>;

    beforeAll(async () => {
      database = await createTestDatabase("test");
      url = database.url;
      handle = createAdapterFactory({ databaseUrl: url });
      prisma = new PrismaClient({ adapter: handle.factory });
    });

    afterAll(async () => {
      await prisma?.$disconnect();
      await database?.drop();
    });

    it("applies every migration in prisma/migrations once, recording them as the Prisma CLI does", async () => {
      const expected = readdirSync(migrationsDir)
        .filter((n) => statSync(`${migrationsDir}/${n}`).isDirectory())
        .sort();
      expect(await applyMigrations(handle.factory)).toEqual(expected);
      expect(await applyMigrations(createAdapterFactory({ databaseUrl: url }).factory)).toEqual([]);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const rows = await client.query<{ migration_name: string; finished_at: Date | null }>(
        'SELECT migration_name, finished_at FROM "_prisma_migrations" ORDER BY migration_name',
      );
      await client.end();
      expect(rows.rows.map((r) => r.migration_name)).toEqual(expected);
      expect(rows.rows.every((r) => r.finished_at !== null)).toBe(true);
    });

    it("seeds the demo tenancy and resolves a subscriber's organisations from it", async () => {
      await seedDemoData(prisma);
      await seedDemoData(prisma); // idempotent
      expect(await prisma.user.count()).toBe(3);
      const alice = await prisma.user.findUniqueOrThrow({ where: { email: "alice@acme.test" } });
      const acme = await prisma.organization.findUniqueOrThrow({ where: { slug: "acme" } });
      const entitlements = (await prismaEntitlements(prisma)(alice.id))!;
      const identity = subscriberOf({ sessionId: "s-1", userId: alice.id }, null, entitlements);
      expect(identity).toMatchObject({
        userId: alice.id,
        organizationIds: [acme.id],
        metadata: { role: "ADMIN", [`org:${acme.id}`]: "OWNER" },
      });
    });

    it("an order written to PostgreSQL is delivered to its organisation", async () => {
      const layer = freshEventLayer();
      const alice = await prisma.user.findUniqueOrThrow({ where: { email: "alice@acme.test" } });
      const acme = await prisma.organization.findUniqueOrThrow({ where: { slug: "acme" } });
      const identity = subscriberOf(
        { sessionId: "s-2", userId: alice.id },
        null,
        (await prismaEntitlements(prisma)(alice.id))!,
      );
      const sub = await readSubscription(layer, { identity, names: ["order.created"] });
      await sub.waitFor((all) => all.length === 1, "system.ready");
      expect(sub.names()).toEqual(["system.ready"]);
      const order = await createOrder(prisma, {
        organizationId: acme.id,
        createdById: alice.id,
        title: "Postgres order",
        totalCents: 700,
        currency: "GBP",
      });
      await sub.waitFor((all) => all.length === 2, "order.created");
      expect(sub.received[1]!.event).toMatchObject({
        name: "order.created",
        data: { orderId: order.id, displayAmount: "£7.00" },
      });
      await sub.close();
      expect(layer.registry.size).toBe(0);
    });
  },
);
