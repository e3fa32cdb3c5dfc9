/**
 * What reading a session costs the server, per cookie, on one core, as a
 * ratio to Auth.js's bare `decode` of the same cookie in the same run:
 *
 *   decode     `@auth/core/jwt` decode alone: key derivation (HKDF), the
 *              key's thumbprint, JWE decryption and its checks
 *   new        the app's read of a cookie it has not seen (sessionOfRequest:
 *              Auth.js's session action, its jwt callback with the sign-in
 *              check on the database, the session callback)
 *   returning  the same cookies again, within AUTH_SESSION_CACHE_MS
 *
 * A new-session stream connect costs at least `new` (see the fan-out
 * benchmark's new-session phase), so this is the floor under that figure.
 * Cookies are minted with Auth.js's `encode` and the app's secret and salt,
 * as sign-in does, for sign-ins recorded in the embedded database (PGlite in
 * memory). Node's WebCrypto runs on the thread pool; the process is pinned
 * to one core, threads included, as the fan-out benchmark pins the server.
 *
 *   npm run bench:session          # BENCH_SESSION_N=2000 cookies per round, 5 rounds
 */
import { spawnSync } from "node:child_process";
import { AsyncLocalStorage } from "node:async_hooks";

const CORE = "0";
if (process.env.BENCH_SESSION_PINNED !== "1") {
  const pinned = spawnSync("taskset", ["-c", CORE, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, BENCH_SESSION_PINNED: "1" },
    stdio: "inherit",
  });
  process.exit(pinned.status ?? 1);
}

Object.assign(process.env, {
  NODE_ENV: "test",
  PGLITE_DATA_DIR: "memory://",
  DATABASE_URL: "",
  AUTH_SECRET: "bench-secret-bench-secret-bench-secret-0123",
  AUTH_URL: "http://127.0.0.1:3000",
  LOG_LEVEL: "silent",
  ESCROW_JOB_INTERVAL_MS: "0",
});

const N = Number(process.env.BENCH_SESSION_N ?? 2_000);
const ROUNDS = Number(process.env.BENCH_SESSION_ROUNDS ?? 5);
/** Reads in flight at once, as a reconnect storm has them. */
const CONCURRENCY = 32;
const SALT = "authjs.session-token"; // the cookie's name over plain HTTP, as on the benchmark's loopback

// Next.js enables async hooks in the server process (AsyncLocalStorage); so does this.
new AsyncLocalStorage().enterWith({});

const { encode, decode } = await import("@auth/core/jwt");
const { db, getDatabase } = await import("~/server/db");
const { applyMigrations } = await import("~/server/db/migrations");
const { seedDemoData } = await import("~/server/db/seed");
const { recordSignIn } = await import("~/server/auth/sign-in-sessions");
const { sessionOfRequest } = await import("~/server/auth");
const { testRuntime } = await import("../tests/helpers/runtime");
testRuntime();

await applyMigrations(getDatabase().factory);
await seedDemoData(db);
const user = await db.user.findUniqueOrThrow({ where: { email: "alice@acme.test" } });
const secret = process.env.AUTH_SECRET!;

/** One round's cookies: a sign-in each, encoded as Auth.js's sign-in encodes it. */
async function mintCookies(round: number): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  return Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const sid = `bench-${round}-${i}`;
      await recordSignIn(sid, user.id, 3_600);
      const token = {
        name: user.name,
        email: user.email,
        picture: null,
        sub: user.id,
        sid,
        iat: now,
        exp: now + 3_600,
      };
      return encode({ token, secret, salt: SALT, maxAge: 3_600 });
    }),
  );
}

/** CPU of the whole process (every thread) per call, and calls per second of wall time. */
async function measure(items: string[], read: (token: string) => Promise<unknown>) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (!(await read(items[next++]!))) throw new Error("a cookie did not read as a session");
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(cpu);
  return {
    cpuMicrosPerRead: (used.user + used.system) / items.length,
    readsPerSecond: items.length / ((performance.now() - started) / 1000),
  };
}

const header = (token: string) => ({ cookie: `${SALT}=${token}`, host: "127.0.0.1:3000" });
const modes = {
  decode: (token: string) => decode({ token, secret, salt: SALT }),
  new: (token: string) => sessionOfRequest(header(token)),
  returning: (token: string) => sessionOfRequest(header(token)),
} as const;
type Mode = keyof typeof modes;

// Warm-up: the JIT, the database's WebAssembly and the batched lookups settle.
const warmUp = await mintCookies(0);
for (const mode of ["decode", "new", "returning"] as Mode[]) await measure(warmUp, modes[mode]);

const rows: { round: number; mode: Mode; cpuMicrosPerRead: number; readsPerSecond: number }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const cookies = await mintCookies(round);
  // decode caches nothing, so `new` still meets these cookies unseen.
  for (const mode of ["decode", "new", "returning"] as Mode[]) {
    rows.push({ round, mode, ...(await measure(cookies, modes[mode])) });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
/** Two significant digits: the cached read is a hundredth of a decode. */
const twoDigits = (n: number) => Number(n.toPrecision(2));
console.table(
  rows.map((r) => ({
    ...r,
    cpuMicrosPerRead: Math.round(r.cpuMicrosPerRead),
    readsPerSecond: Math.round(r.readsPerSecond),
  })),
);
const summary = (["decode", "new", "returning"] as Mode[]).map((mode) => {
  const mine = rows.filter((r) => r.mode === mode);
  const ratios = mine.map(
    (r) => r.cpuMicrosPerRead / rows.find((d) => d.round === r.round && d.mode === "decode")!.cpuMicrosPerRead,
  );
  return {
    mode,
    cpuMicrosPerRead: Math.round(median(mine.map((r) => r.cpuMicrosPerRead))),
    readsPerSecondOnOneCore: Math.round(1e6 / median(mine.map((r) => r.cpuMicrosPerRead))),
    ratioToDecode: `${twoDigits(median(ratios))} (${twoDigits(Math.min(...ratios))}–${twoDigits(Math.max(...ratios))})`,
  };
});
console.log(`session reads, ${N} cookies per round, ${ROUNDS} rounds, medians (Node ${process.version}, one core):`);
console.table(summary);
const { table, writeScenario } = await import("./results-file");
const labels: Record<Mode, string> = {
  decode: "Auth.js's `decode` alone (HKDF, thumbprint, JWE)",
  new: "the app's read of an unseen cookie (`sessionOfRequest`)",
  returning: "the same cookie again (token cache)",
};
writeScenario(
  `session-read-${N}-${ROUNDS}`,
  `Session reads: ${N} cookies per round, ${ROUNDS} rounds, one core`,
  table(
    ["read of a cookie", "CPU per read (median)", "reads/s on one core", "ratio to `decode` (median, range)"],
    summary.map((s) => [labels[s.mode], `${s.cpuMicrosPerRead} µs`, s.readsPerSecondOnOneCore, `×${s.ratioToDecode}`]),
  ),
);
process.exit(0);
