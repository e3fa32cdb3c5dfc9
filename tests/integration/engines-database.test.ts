/**
 * The database replay log (the embedded default's durable history) runs the
 * same conformance suite as the in-memory and Redis logs, on the real
 * migrations, each test on emptied tables: on PGlite in memory, and on a real
 * PostgreSQL (TEST_DATABASE_URL, which .ci/run sets) since its statements are
 * raw SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { SqlDriverAdapter } from "@prisma/driver-adapter-utils";

import { PrismaClient } from "~/generated/prisma/client";
import { db, getDatabase } from "~/server/db";
import { createAdapterFactory } from "~/server/db/adapter";
import { applyMigrations } from "~/server/db/migrations";
import { compareEventIds } from "~/server/events";
import { prismaSql } from "~/server/db/sql";
import { DatabaseReplayLog } from "~/server/events/replay-log-database";
import { replayLogConformance } from "../conformance/replay-log.suite";
import { createTestDatabase, testDatabaseAdminUrl } from "../helpers/postgres";
import { setupDatabase } from "./harness";

beforeAll(setupDatabase);

const paymentFailed = (orderId: string) => ({
  name: "payment.failed" as const,
  version: 1,
  data: { orderId, errorCode: "x" },
  emittedAt: new Date().toISOString(),
  target: { kind: "organization" as const, organizationId: "acme" },
});

const empty = async (client: PrismaClient = db) => {
  await client.eventLogEntry.deleteMany();
  await client.eventLogMark.deleteMany();
};

// As the app runs it (inserts through prepared statements), with exact bounds, as the suite
// asserts them (trimming in batches has its own test below).
replayLogConformance("database", async (retention) => {
  await empty();
  return new DatabaseReplayLog(
    prismaSql(db, () => getDatabase().statements()),
    { ...retention, trimBatch: 0 },
  );
});

// Replays answered by the database alone, as for a cursor older than what memory holds;
// every statement through Prisma's client.
replayLogConformance("database, replays from the database", async (retention) => {
  await empty();
  return new DatabaseReplayLog(prismaSql(db), { ...retention, recentEvents: 0, trimBatch: 0 });
});

if (!testDatabaseAdminUrl) {
  console.warn("[engines-database] PostgreSQL run SKIPPED: set TEST_DATABASE_URL (.ci/run does)");
}

describe.skipIf(!testDatabaseAdminUrl)("on PostgreSQL", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;
  let driver: SqlDriverAdapter;

  beforeAll(async () => {
    database = await createTestDatabase("replaylog");
    const handle = createAdapterFactory({ databaseUrl: database.url });
    await applyMigrations(handle.factory);
    prisma = new PrismaClient({ adapter: handle.factory });
    driver = await handle.factory.connect();
  });

  afterAll(async () => {
    await driver?.dispose();
    await prisma?.$disconnect();
    await database?.drop();
  });

  replayLogConformance("database (PostgreSQL)", async (retention) => {
    await empty(prisma);
    return new DatabaseReplayLog(
      prismaSql(prisma, async () => driver),
      { ...retention, recentEvents: 0, trimBatch: 0 },
    );
  });
});

describe("database replay log, recent events in memory", () => {
  it("a cursor older than what memory holds is answered by the database, with the same events", async () => {
    await empty();
    const log = new DatabaseReplayLog(prismaSql(db), { maxEvents: 100, maxAgeMs: 60_000, recentEvents: 2 });
    const appended = [];
    for (let i = 0; i < 6; i++) appended.push(await log.append(paymentFailed(String(i))));
    // Memory holds the last 2 to 4 (trimmed in steps): the first cursors are older than that.
    for (let i = 0; i < appended.length; i++) {
      expect(await log.readAfter(appended[i]!.id)).toEqual({
        kind: "events",
        events: appended.slice(i + 1),
        head: appended.at(-1)!.id,
      });
    }
  });
});

describe("database replay log, trimming in batches", () => {
  const organization = (orderId: string, organizationId: string) => ({
    ...paymentFailed(orderId),
    target: { kind: "organization" as const, organizationId },
  });

  it("an audience runs up to trimBatch over its count, then is trimmed back to it, with exact gaps", async () => {
    await empty();
    const log = new DatabaseReplayLog(prismaSql(db), {
      maxEvents: 10,
      maxAgeMs: 60_000,
      trimBatch: 3,
      recentEvents: 0,
    });
    const other = await log.append(organization("other", "globex"));
    const acme = [];
    for (let i = 0; i < 13; i++) acme.push(await log.append(organization(String(i), "acme")));
    // 13 of acme's events: within the batch, nothing trimmed yet, and nothing missed from the first cursor.
    expect(await log.size()).toBe(14);
    expect(await log.readAfter(acme[0]!.id, { audiences: ["org:acme"] })).toMatchObject({
      kind: "events",
      events: acme.slice(1),
    });
    acme.push(await log.append(organization("13", "acme")));
    // One over the batch: back to 10, the 4 oldest gone in one statement.
    expect(await log.size()).toBe(11);
    expect(await db.eventLogEntry.count({ where: { audience: "org:acme" } })).toBe(10);
    expect(await log.readAfter(acme[3]!.id, { audiences: ["org:acme"] })).toMatchObject({
      kind: "events",
      events: acme.slice(4),
    });
    expect(await log.readAfter(acme[2]!.id, { audiences: ["org:acme"] })).toMatchObject({
      kind: "gap",
      reason: "retention_exceeded",
      oldestAvailableId: acme[4]!.id,
    });
    // Another audience's history and cursors are untouched.
    expect(await log.readAfter(other.id, { audiences: ["org:globex"] })).toMatchObject({ kind: "events", events: [] });
    // The floor survives a restart.
    const after = new DatabaseReplayLog(prismaSql(db), {
      maxEvents: 10,
      maxAgeMs: 60_000,
      trimBatch: 3,
      recentEvents: 0,
    });
    expect(await after.readAfter(acme[2]!.id, { audiences: ["org:acme"] })).toMatchObject({ kind: "gap" });
    expect(await after.readAfter(acme[3]!.id, { audiences: ["org:acme"] })).toMatchObject({
      kind: "events",
      events: acme.slice(4),
    });
  });

  it("the total bound is trimmed in batches too, oldest first across audiences", async () => {
    await empty();
    const log = new DatabaseReplayLog(prismaSql(db), {
      maxEvents: 100,
      maxTotalEvents: 6,
      maxAgeMs: 60_000,
      trimBatch: 2,
      recentEvents: 0,
    });
    const all = [];
    for (let i = 0; i < 8; i++) all.push(await log.append(organization(String(i), ["acme", "globex"][i % 2]!)));
    expect(await log.size()).toBe(8);
    all.push(await log.append(organization("8", "acme")));
    expect(await log.size()).toBe(6);
    expect(await log.readAfter(all[2]!.id)).toMatchObject({ kind: "events", events: all.slice(3) });
    expect(await log.readAfter(all[1]!.id, { audiences: ["org:globex"] })).toMatchObject({
      kind: "gap",
      reason: "retention_exceeded",
    });
  });
});

describe("database replay log across a restart", () => {
  it("a new log on the same database keeps the history, the floors and the order of ids", async () => {
    await empty();
    const draft = paymentFailed;
    const before = new DatabaseReplayLog(prismaSql(db), { maxEvents: 3, maxAgeMs: 60_000 });
    const first = await before.append(draft("1"));
    const kept = [await before.append(draft("2")), await before.append(draft("3")), await before.append(draft("4"))];
    // "Restart": another log on the same tables.
    const after = new DatabaseReplayLog(prismaSql(db), { maxEvents: 3, maxAgeMs: 60_000 });
    expect(await after.readAfter(kept[0]!.id)).toMatchObject({ kind: "events", events: kept.slice(1) });
    expect(await after.readAfter(first.id)).toMatchObject({ kind: "events", events: kept });
    // "1" was evicted before the restart: older cursors still get the gap.
    const [ms] = first.id.split("-");
    expect(await after.readAfter(`${Number(ms) - 1}-0`)).toMatchObject({ kind: "gap" });
    const next = await after.append(draft("5"));
    expect(compareEventIds(next.id, kept[2]!.id)).toBeGreaterThan(0);
    expect(await after.readAfter(kept[2]!.id)).toMatchObject({ kind: "events", events: [next] });
  });
});
