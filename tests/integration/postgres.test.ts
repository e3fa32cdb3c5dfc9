/**
 * The same migrations and data code on a real PostgreSQL (DATABASE_URL mode).
 * Needs TEST_DATABASE_URL (a role that may CREATE DATABASE); .ci/run starts
 * Debian's postgresql and sets it. Each run works in a database of its own.
 */
import { readdirSync, statSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PrismaClient } from "~/generated/prisma/client";
import { createAdapterFactory } from "~/server/db/adapter";
import { applyMigrations, migrationsDir } from "~/server/db/migrations";
import { seedDemoData } from "~/server/db/seed";
import { emitInTransaction, OutboxRelay, wakeOnCommit, withEvents } from "~/server/db/outbox";
import { changeOrderStatus, createOrder } from "~/server/domain/orders";
import { subscriberOf } from "~/server/events";
import { prismaEntitlements } from "~/server/db/entitlements";
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
      expect(await prisma.user.count()).toBe(4); // alice, bob, carol and the operator
      const alice = await prisma.user.findUniqueOrThrow({ where: { email: "alice@acme.test" } });
      const acme = await prisma.organization.findUniqueOrThrow({ where: { slug: "acme" } });
      const entitlements = (await prismaEntitlements(prisma)(alice.id))!;
      const identity = subscriberOf({ sessionId: "s-1", userId: alice.id }, null, entitlements);
      expect(identity).toMatchObject({
        userId: alice.id,
        organizationIds: [acme.id],
        metadata: { role: "MEMBER", [`org:${acme.id}`]: "OWNER" },
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

    it("the outbox on PostgreSQL: a rollback records nothing; racing status changes publish in commit order with increasing versions; NOTIFY wakes another relay", async () => {
      const layer = freshEventLayer();
      const alice = await prisma.user.findUniqueOrThrow({ where: { email: "alice@acme.test" } });
      const acme = await prisma.organization.findUniqueOrThrow({ where: { slug: "acme" } });
      const identity = subscriberOf(
        { sessionId: "s-3", userId: alice.id },
        null,
        (await prismaEntitlements(prisma)(alice.id))!,
      );
      const sub = await readSubscription(layer, { identity, names: ["order.created", "order.status.changed"] });
      await sub.waitFor((all) => all.length === 1, "system.ready");
      const target = { kind: "organization", organizationId: acme.id } as const;

      const rows = await prisma.outboxEvent.count();
      await expect(
        withEvents(prisma, async (tx, emit) => {
          const order = await tx.order.create({
            data: { organizationId: acme.id, createdById: alice.id, title: "Never", totalCents: 1, currency: "USD" },
          });
          await emit("order.created", { orderId: order.id, title: "Never", total: 1, currency: "USD" }, target);
          throw new Error("rolled back");
        }),
      ).rejects.toThrow("rolled back");
      expect(await prisma.outboxEvent.count()).toBe(rows);

      // Real concurrent transactions (PGlite has one connection; PostgreSQL has a pool).
      const order = await createOrder(prisma, {
        organizationId: acme.id,
        createdById: alice.id,
        title: "Raced on PostgreSQL",
        totalCents: 900,
        currency: "USD",
      });
      // Paid: an order is delivered only once paid.
      await prisma.order.update({ where: { id: order.id }, data: { paymentStatus: "PAID" } });
      let wins = 0;
      for (const to of ["IN_PROGRESS", "DELIVERED", "COMPLETED"] as const) {
        const results = await Promise.allSettled([1, 2, 3, 4].map(() => changeOrderStatus(prisma, order.id, to)));
        wins += results.filter((r) => r.status === "fulfilled").length;
      }
      expect(wins).toBe(3);
      const about = () =>
        sub.received
          .filter((r) => (r.event.data as { orderId?: string }).orderId === order.id)
          .map((r) => r.event.data as { orderVersion?: number; to?: string });
      await sub.waitFor(() => about().length === 4, "the order's 4 events");
      expect(about().map((d) => d.orderVersion)).toEqual([1, 2, 3, 4]);
      expect(
        about()
          .slice(1)
          .map((d) => d.to),
      ).toEqual(["IN_PROGRESS", "DELIVERED", "COMPLETED"]);

      // A relay that never polls publishes a row another connection committed: LISTEN/NOTIFY woke it.
      const relay = new OutboxRelay(prisma, { pollMs: 0, keepPublishedMs: 60_000 });
      const stop = await wakeOnCommit(url, relay);
      try {
        const committedAt = Date.now();
        await prisma.$transaction((tx) =>
          emitInTransaction(
            tx,
            "order.status.changed",
            { orderId: order.id, from: "DELIVERED", to: "COMPLETED", orderVersion: 5 },
            target,
          ),
        );
        await sub.waitFor(() => about().length === 5, "the notified row");
        expect(Date.now() - committedAt).toBeLessThan(2_000);
        // The relay marks its row after the bus took the event (which reached the subscriber synchronously).
        await expect.poll(() => prisma.outboxEvent.count({ where: { publishedAt: null } })).toBe(0);
      } finally {
        await stop();
      }
      await sub.close();
    });
  },
);
