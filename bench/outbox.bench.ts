/**
 * What the transactional outbox costs per emit, and how soon the relay
 * publishes after a commit, on the embedded database (PGlite in memory), in
 * one process, as ratios to the emit-after-commit baseline in the same run:
 *
 *   baseline  a transaction that changes the order, then bus.emit
 *   outbox    the same change with its event recorded in the transaction
 *             (advisory lock + insert), then the relay publishes and marks it
 *
 *   npm run bench:outbox          # BENCH_OUTBOX_N=500
 */
export {};

Object.assign(process.env, {
  NODE_ENV: "test",
  PGLITE_DATA_DIR: "memory://",
  DATABASE_URL: "",
  AUTH_SECRET: "bench-secret-bench-secret-bench-secret-0123",
  LOG_LEVEL: "silent",
  ESCROW_JOB_INTERVAL_MS: "0",
});

const N = Number(process.env.BENCH_OUTBOX_N ?? 500);

const { db, getDatabase } = await import("~/server/db");
const { applyMigrations } = await import("~/server/db/migrations");
const { seedDemoData } = await import("~/server/db/seed");
const { emitInTransaction, withEvents } = await import("~/server/db/outbox");
const { getEventLayer, testRuntime } = await import("../tests/helpers/runtime");
const { table, writeScenario } = await import("./results-file");
const runtime = testRuntime();

await applyMigrations(getDatabase().factory);
await seedDemoData(db);
const org = await db.organization.findUniqueOrThrow({ where: { slug: "acme" } });
const user = await db.user.findUniqueOrThrow({ where: { email: "alice@acme.test" } });
const order = await db.order.create({
  data: { organizationId: org.id, createdById: user.id, title: "bench", totalCents: 100, currency: "USD" },
});
const target = { kind: "organization", organizationId: org.id } as const;
const bus = getEventLayer().bus;
let delivered = 0;
let onDelivered: (() => void) | null = null;
bus.subscribe({
  id: "bench",
  userId: user.id,
  sessionId: "bench",
  signInSessionId: "bench",
  organizationIds: [org.id],
  metadata: {},
  names: null,
  deliver: () => {
    delivered++;
    onDelivered?.();
  },
});

const payload = (i: number) => ({
  orderId: order.id,
  from: "CREATED" as const,
  to: "IN_PROGRESS" as const,
  orderVersion: i + 1,
});
const change = (tx: Parameters<Parameters<typeof db.$transaction>[0]>[0]) =>
  tx.order.update({ where: { id: order.id }, data: { version: { increment: 1 } } });

async function time(label: string, run: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await run(i); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await run(i);
  const perEmitMs = Number(process.hrtime.bigint() - start) / 1e6 / N;
  console.log(`${label.padEnd(10)} ${perEmitMs.toFixed(3)} ms per change+event`);
  return perEmitMs;
}

const baseline = await time("baseline", async (i) => {
  await db.$transaction(async (tx) => change(tx));
  await bus.emit("order.status.changed", payload(i), target);
});
const outbox = await time("outbox", (i) =>
  withEvents(db, async (tx, emit) => {
    await change(tx);
    await emit("order.status.changed", payload(i), target);
  }),
);
console.log(`outbox / baseline: ×${(outbox / baseline).toFixed(2)} per emit`);

// Commit → delivered, with the in-process wake (the relay of the committing process).
const latencies: number[] = [];
for (let i = 0; i < 200; i++) {
  await db.$transaction((tx) => emitInTransaction(tx, "order.status.changed", payload(i), target));
  const committed = process.hrtime.bigint();
  const seen = new Promise<void>((resolve) => (onDelivered = resolve));
  void runtime.outbox.wake();
  await seen;
  latencies.push(Number(process.hrtime.bigint() - committed) / 1e6);
}
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
console.log(
  `commit → delivered (relay woken by the commit): p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms`,
);
writeScenario(
  `outbox-${N}`,
  `Outbox: ${N} order changes with their event, embedded database (PGlite)`,
  table(
    ["emit", "wall time per change + event", "ratio"],
    [
      ["transaction, then `bus.emit` (baseline)", `${baseline.toFixed(3)} ms`, "1"],
      ["`withEvents` (the outbox)", `${outbox.toFixed(3)} ms`, `**×${(outbox / baseline).toFixed(2)}**`],
      ["commit → delivered, p50 / p99 (200 commits)", `${pct(50).toFixed(2)} / ${pct(99).toFixed(2)} ms`, ""],
    ],
  ),
);
console.log(`(from another instance the relay's poll adds up to OUTBOX_POLL_MS; delivered ${delivered} events)`);
process.exit(0);
