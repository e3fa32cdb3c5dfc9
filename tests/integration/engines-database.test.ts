/**
 * The database replay log (the embedded default's durable history) runs the
 * same conformance suite as the in-memory and Redis logs, on the real
 * migrations (PGlite in memory), each test on emptied tables.
 */
import { beforeAll, describe, expect, it } from "vitest";

import { db } from "~/server/db";
import { compareEventIds } from "~/server/events";
import { DatabaseReplayLog } from "~/server/replay-log-database";
import { replayLogConformance } from "../conformance/replay-log.suite";
import { setupDatabase } from "./harness";

beforeAll(setupDatabase);

const empty = async () => {
  await db.eventLogEntry.deleteMany();
  await db.eventLogMark.deleteMany();
};

replayLogConformance("database", async (retention) => {
  await empty();
  return new DatabaseReplayLog(db, retention);
});

describe("database replay log across a restart", () => {
  it("a new log on the same database keeps the history, the floors and the order of ids", async () => {
    await empty();
    const draft = (orderId: string) => ({
      name: "payment.failed" as const,
      version: 1,
      data: { orderId, errorCode: "x" },
      emittedAt: new Date().toISOString(),
      target: { kind: "organization" as const, organizationId: "acme" },
    });
    const before = new DatabaseReplayLog(db, { maxEvents: 3, maxAgeMs: 60_000 });
    const first = await before.append(draft("1"));
    const kept = [await before.append(draft("2")), await before.append(draft("3")), await before.append(draft("4"))];
    // "Restart": another log on the same tables.
    const after = new DatabaseReplayLog(db, { maxEvents: 3, maxAgeMs: 60_000 });
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
