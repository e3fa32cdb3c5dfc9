/**
 * Prepared statements on the embedded database (the replay log's insert):
 * the same rows as Prisma writes, errors that surface and recover, and runs
 * that never land inside a transaction another caller has open.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";

import { db, getDatabase } from "~/server/db";
import type { StatementRunner } from "~/server/pglite-statements";
import { setupDatabase } from "./harness";

const INSERT = `INSERT INTO "EventLogMark" ("key", "idMs", "idSeq") VALUES ($1, $2, $3)`;
const TYPES = (["string", "bigint", "int"] as const).map((scalarType) => ({ scalarType, arity: "scalar" as const }));
const insert = (runner: StatementRunner, key: string, idMs: bigint, idSeq: number) =>
  runner.executeRaw({ sql: INSERT, args: [key, String(idMs), idSeq], argTypes: TYPES });

describe("prepared statements on PGlite", () => {
  let runner: StatementRunner;
  beforeAll(async () => {
    await setupDatabase();
    expect(getDatabase().kind).toBe("pglite");
    runner = await getDatabase().statements();
  });
  beforeEach(async () => {
    await db.eventLogMark.deleteMany({ where: { key: { startsWith: "test:" } } });
  });

  it("writes the row Prisma would, and answers how many rows it changed, on every run", async () => {
    expect(await insert(runner, "test:a", 1_700_000_000_123n, 4)).toBe(1);
    expect(await insert(runner, "test:b", 9_007_199_254_740_993n, 0)).toBe(1);
    const rows = await db.eventLogMark.findMany({ where: { key: { startsWith: "test:" } }, orderBy: { key: "asc" } });
    expect(rows).toEqual([
      { key: "test:a", idMs: 1_700_000_000_123n, idSeq: 4 },
      { key: "test:b", idMs: 9_007_199_254_740_993n, idSeq: 0 },
    ]);
    const updated = await runner.executeRaw({
      sql: `UPDATE "EventLogMark" SET "idSeq" = "idSeq" + 1 WHERE "key" LIKE $1`,
      args: ["test:%"],
      argTypes: [{ scalarType: "string", arity: "scalar" }],
    });
    expect(updated).toBe(2);
  });

  it("writes dates as Prisma's adapter does", async () => {
    const at = new Date("2026-11-29T10:11:12.345Z");
    await runner.executeRaw({
      sql: `INSERT INTO "EventLogEntry" ("idMs", "idSeq", "audience", "key", "envelope", "createdAt") VALUES ($1, $2, $3, $4, $5::jsonb, $6)`,
      args: ["1", 1, "test", "test:dated", "{}", at.toISOString()],
      argTypes: (["bigint", "int", "string", "string", "string", "datetime"] as const).map((scalarType) => ({
        scalarType,
        arity: "scalar" as const,
      })),
    });
    const row = await db.eventLogEntry.findUniqueOrThrow({ where: { key: "test:dated" } });
    await db.eventLogEntry.delete({ where: { key: "test:dated" } });
    expect(row.createdAt.toISOString()).toBe(at.toISOString());
  });

  it("surfaces a failed run as the database's error, and the next run works", async () => {
    await insert(runner, "test:dup", 1n, 1);
    await expect(insert(runner, "test:dup", 2n, 2)).rejects.toMatchObject({ code: "23505" });
    await expect(
      runner.executeRaw({ sql: `INSERT INTO "NoSuchTable" VALUES ($1)`, args: ["x"], argTypes: [] }),
    ).rejects.toMatchObject({
      code: "42P01",
    });
    expect(await insert(runner, "test:after", 3n, 3)).toBe(1);
    expect(await db.eventLogMark.count({ where: { key: { startsWith: "test:" } } })).toBe(2);
  });

  it("waits for a transaction another caller has open instead of joining it", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const transaction = db
      .$transaction(async (tx) => {
        await tx.eventLogMark.create({ data: { key: "test:rolled-back", idMs: 1n, idSeq: 1 } });
        entered();
        await held;
        throw new Error("roll back");
      })
      .catch((error: unknown) => error);
    await inside;
    const run = insert(runner, "test:outside", 5n, 5);
    let ran = false;
    void run.then(() => (ran = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ran).toBe(false); // still waiting for the open transaction
    release();
    expect(await transaction).toBeInstanceOf(Error);
    expect(await run).toBe(1);
    const keys = (await db.eventLogMark.findMany({ where: { key: { startsWith: "test:" } } })).map((m) => m.key);
    expect(keys).toEqual(["test:outside"]);
  });
});
