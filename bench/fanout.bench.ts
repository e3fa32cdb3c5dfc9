/**
 * Fan-out benchmark: the shipped app (production build, server.ts, Auth.js
 * sessions, `events.onEvent` over the SSE fast path) next to a bare
 * node:http SSE server (a Set of responses and one pre-serialised frame per
 * event) and tRPC's stock SSE handler, in the same run, on loopback. The
 * server runs on core 0, this load generator on core 1.
 *
 * For each server: open N streams that speak the real protocol (the app's
 * carry the session cookie), emit at R events per second for D seconds
 * through a real request (the app: the `notification.send` mutation, a
 * notification to their organisation, which all N streams belong to), and measure deliveries per second, server CPU per delivery,
 * emit-to-receive p50/p99, memory per open stream after a forced GC,
 * subscriptions per second and failed connections. Each is printed as a
 * ratio to the bare server.
 *
 * Both servers stay up and are measured in turn for BENCH_ROUNDS rounds
 * (bare, app, bare, app, ...); each app round is divided by the bare round
 * next to it and the median ratio is reported with its range. Before each
 * measurement BENCH_WARMUP streams are opened and closed. Then, once:
 * connects by sessions new to the server (BENCH_NEW_SESSIONS sign-ins, one
 * stream each) and tRPC's stock handler.
 *
 *   npm run bench                                   # N=1000, R=10/s, D=10 s, 3 rounds
 *   BENCH_N=5000 BENCH_RATE=2 npm run bench
 *   BENCH_TARGETS=bare,app BENCH_SKIP_BUILD=1 npm run bench
 *   BENCH_TARGETED=1 ...                            # also: one event to one user among N streams
 *   BENCH_PROFILE=1 ...                             # CPU profile of the app server (bench/results/profiles),
 *                                                   # and "phase <µs> <name>" lines to cut it by
 *   BENCH_CONSOLE=0 ...                             # skip the "console open" rounds
 *
 * With Chromium present, each round also measures the app with the operator
 * console (/admin) open in a headless Chromium, signed in as the platform
 * operator: its own stream of `console.sample` events, and the queries the
 * page makes (the console's figures as events move, the connections table
 * as the number of streams changes). Chromium inherits this process's core.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";

import { table, writeScenario } from "./results-file";
import http from "node:http";
import net from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";

import type { Browser, Page } from "playwright-core";

import { root, signIn, startApp, type AppServer } from "../tests/helpers/app-server";
import { cookiesFor, hasChromium, launchChromium } from "../tests/helpers/chromium";
import { freePort } from "../tests/helpers/ports";
import { sleep } from "../tests/helpers/wait";

const N = Number(process.env.BENCH_N ?? 1_000);
const RATE = Number(process.env.BENCH_RATE ?? 10);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const TARGETS = (process.env.BENCH_TARGETS ?? "bare,app,stock").split(",");
const CONNECT_CONCURRENCY = Number(process.env.BENCH_CONNECT_CONCURRENCY ?? 500);
/**
 * Streams opened and closed on each server before each round is measured
 * (JIT warm-up, lazily loaded code). V8 keeps optimising the app's connect
 * path over its first thousand or so connects: after 200, a first round's
 * connects cost 940-1,210 µs of CPU each where later rounds cost 730-900.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1_000);
/** Sign-ins for the new-session connect measurement (each costs the server a password hash). */
const NEW_SESSIONS = Number(process.env.BENCH_NEW_SESSIONS ?? 300);
/** Rounds of bare then app, interleaved; ratios are per round, reported as the median. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Emits that warm up the mutation path before the targeted phase measures it. */
const TARGETED_WARMUP = Number(process.env.BENCH_TARGETED_WARMUP ?? 3_000);
/** Alternating rounds of targeted emits and broadcasts in the targeted phase. */
const TARGETED_ROUNDS = Number(process.env.BENCH_TARGETED_ROUNDS ?? 7);
/** Idle CPU is measured over one heartbeat period of the app (EVENTS_PING_INTERVAL_MS, default 15 s). */
const IDLE_WINDOW_S = Number(process.env.EVENTS_PING_INTERVAL_MS ?? 15_000) / 1_000;
const STREAM_ROOM = Math.max(N, WARMUP, NEW_SESSIONS) * 2 + 100;
const TICKS_PER_SECOND = 100; // /proc/<pid>/stat clock ticks (USER_HZ)
const SERVER_CORE = "0";
const LOAD_CORE = "1";

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function pinSelf() {
  if (cpus().length < 2) return false;
  return spawnSync("taskset", ["-cp", LOAD_CORE, String(process.pid)]).status === 0;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
}

/** The newest `server.memory` line a server printed: V8 heap plus memory outside it (buffers), in KiB. */
function reportedHeapKiB(output: string): number {
  const lines = output.match(/\{[^\n]*"event":"server\.memory"[^\n]*\}/g);
  if (!lines) throw new Error("the server reported no memory (is it running with --expose-gc?)");
  const { heapUsed, external } = JSON.parse(lines.at(-1)!) as { heapUsed: number; external: number };
  return (heapUsed + external) / 1024;
}

/**
 * Memory after the server ran full GCs (both servers, started with --expose-gc,
 * collect on SIGUSR2 and print a `server.memory` line): RSS, which also holds
 * what the allocator has not handed back yet, and the heap that is in use.
 */
async function memoryAfterGc(target: Target): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 2; i++) {
    process.kill(target.pid, "SIGUSR2");
    await sleep(400);
  }
  return { rss: rssKiB(target.pid), heap: reportedHeapKiB(target.output()) };
}

const EMPTY = Buffer.alloc(0);
const READY = Buffer.from("system.ready");
const HELLO = Buffer.from("event: hello");
const ERROR = Buffer.from("serialized-error");
const MARKER = Buffer.from("bench@");
const QUOTE = 0x22;

interface Stream {
  close(): void;
}

interface Counters {
  delivered: number;
  latencies: number[];
}

/**
 * Opens one SSE stream; resolves once the server says it is live (`system.ready`, or `hello`
 * for the bare server). A raw socket that writes the request by hand and scans the bytes it
 * receives for markers, instead of Node's HTTP client decoding and splitting frames: the load
 * generator's own cost per delivery (one core for every stream) is what limits the latency
 * percentiles, so it must stay small next to the servers'. Chunked framing needs no decoding
 * here: a marker never spans two chunks, since each frame is written as one.
 */
function openStream(url: string, headers: Record<string, string>, counters: Counters): Promise<Stream> {
  const { hostname, port, pathname, search } = new URL(url);
  const head = [
    `GET ${pathname}${search} HTTP/1.1`,
    `host: ${hostname}:${port}`,
    "accept: text/event-stream",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    "",
    "",
  ].join("\r\n");
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(head));
    const stream: Stream = { close: () => socket.destroy() };
    let tail: Buffer = EMPTY;
    let answered = false;
    let ready = false;
    socket.on("data", (chunk: Buffer) => {
      const receivedAt = performance.now();
      const bytes = tail.length ? Buffer.concat([tail, chunk]) : chunk;
      if (!answered) {
        if (bytes.indexOf("\r\n") < 0) return void (tail = bytes);
        answered = true;
        if (!bytes.subarray(0, 16).toString("latin1").startsWith("HTTP/1.1 200")) {
          socket.destroy();
          return reject(new Error(`stream answered ${bytes.subarray(0, 12).toString("latin1")}`));
        }
      }
      if (!ready && (bytes.includes(READY) || bytes.includes(HELLO))) {
        ready = true;
        socket.setTimeout(0);
        resolve(stream);
      }
      if (!ready && bytes.includes(ERROR)) reject(new Error(bytes.toString()));
      let at = bytes.indexOf(MARKER);
      let consumed = 0;
      while (at >= 0) {
        const end = bytes.indexOf(QUOTE, at);
        if (end < 0) break; // the rest of this marker is in the next read
        counters.delivered++;
        counters.latencies.push(receivedAt - Number.parseFloat(bytes.toString("latin1", at + MARKER.length, end)));
        consumed = end;
        at = bytes.indexOf(MARKER, end);
      }
      tail = bytes.subarray(Math.max(consumed, bytes.length - 64));
    });
    socket.on("error", reject);
    socket.setTimeout(30_000, () => socket.destroy(new Error("connect timed out")));
  });
}

function post(url: string, body: string, headers: Record<string, string> = {}) {
  return new Promise<number>((resolve, reject) => {
    const req = http.request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", ...headers } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Opens one stream per entry of `headers`, CONNECT_CONCURRENCY in flight, each finished one
 * replaced at once (a batch barrier would leave the server idle while a batch's slowest
 * connect completes); measures how fast, and at what CPU of the server (`pid`), they opened.
 */
async function openMany(headers: Record<string, string>[], url: string, counters: Counters, pid: number) {
  const cpuStart = cpuSeconds(pid);
  const started = performance.now();
  const streams: Stream[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < headers.length) {
      const h = headers[next++]!;
      await openStream(url, h, counters).then(
        (stream) => void streams.push(stream),
        () => void failed++,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, headers.length) }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(pid) - cpuStart;
  return {
    streams,
    failed,
    subscriptionsPerSecond: Math.round(streams.length / seconds),
    /** Server CPU per opened subscription: 1e6 / this is what one core could open per second. */
    cpuMicrosPerSubscription: Math.round((cpu * 1e6) / Math.max(1, streams.length)),
  };
}

interface Target {
  name: string;
  pid: number;
  /** Everything the server printed so far. */
  output: () => string;
  streamUrl: string;
  streamHeaders: Record<string, string>;
  /** Emits one event whose message carries `bench@<performance.now()>`. */
  emit: (message: string) => Promise<number>;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

async function measure(target: Target) {
  const counters: Counters = { delivered: 0, latencies: [] };
  // Warm up (the same for every server), then read memory with nothing open.
  const warm = await openMany(
    Array.from({ length: Math.max(1, WARMUP) }, () => target.streamHeaders),
    target.streamUrl,
    counters,
    target.pid,
  );
  for (const s of warm.streams) s.close();
  await sleep(500);
  const before = await memoryAfterGc(target);

  markPhase(`${target.name}: streams connect`);
  const { streams, failed, subscriptionsPerSecond, cpuMicrosPerSubscription } = await openMany(
    Array.from({ length: N }, () => target.streamHeaders),
    target.streamUrl,
    counters,
    target.pid,
  );
  markPhase(`${target.name}: streams connected`);
  await sleep(500);
  const open = await memoryAfterGc(target);

  const cpuStart = cpuSeconds(target.pid);
  const wallStart = performance.now();
  let emitted = 0;
  let emitErrors = 0;
  const pending: Promise<void>[] = [];
  const total = Math.round(RATE * DURATION_S);
  for (let i = 0; i < total; i++) {
    const due = wallStart + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(
      target.emit(`bench@${performance.now()}`).then(
        (status) => void (status < 300 ? emitted++ : emitErrors++),
        () => void emitErrors++,
      ),
    );
  }
  await Promise.all(pending);
  // Let deliveries finish (bounded), then stop the clock.
  const deadline = performance.now() + 15_000;
  while (counters.delivered < emitted * streams.length && performance.now() < deadline) await sleep(50);
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const cpu = cpuSeconds(target.pid) - cpuStart;

  for (const s of streams) s.close();
  await sleep(1_000);
  const sorted = counters.latencies.sort((a, b) => a - b);
  const expected = emitted * streams.length;
  return {
    target: target.name,
    streams: streams.length,
    failedConnections: failed,
    subscriptionsPerSecond,
    cpuMicrosPerSubscription,
    emitted,
    emitErrors,
    delivered: counters.delivered,
    deliveredPct: expected ? Number(((100 * counters.delivered) / expected).toFixed(1)) : 0,
    deliveriesPerSecond: Math.round(counters.delivered / wallSeconds),
    serverCpuPct: Number(((100 * cpu) / wallSeconds).toFixed(1)),
    cpuMicrosPerDelivery: counters.delivered ? Number(((cpu * 1e6) / counters.delivered).toFixed(2)) : NaN,
    p50Ms: Number(percentile(sorted, 50).toFixed(1)),
    p99Ms: Number(percentile(sorted, 99).toFixed(1)),
    heapKibPerStream: Number((Math.max(0, open.heap - before.heap) / Math.max(1, streams.length)).toFixed(1)),
    rssKibPerStream: Number((Math.max(0, open.rss - before.rss) / Math.max(1, streams.length)).toFixed(1)),
  };
}

// --- baseline: bare node:http SSE, a Set of responses ------------------------
const BASELINE_SOURCE = `
const http = require("node:http");
const clients = new Set();
let id = 0;
if (global.gc) process.on("SIGUSR2", () => {
  global.gc();
  const { rss, heapUsed, external } = process.memoryUsage();
  process.stdout.write(JSON.stringify({ event: "server.memory", rss, heapUsed, external }) + "\\n");
});
http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/api/events/stream") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.write("event: hello\\ndata: {}\\n\\n");
    clients.add(res);
    req.on("close", () => clients.delete(res));
    return;
  }
  if (req.method === "POST" && req.url === "/emit") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const frame = Buffer.from("id: " + ++id + "\\nevent: notification.created\\ndata: " + JSON.stringify(JSON.parse(body)) + "\\n\\n");
      for (const c of clients) c.write(frame);
      res.writeHead(202).end();
    });
    return;
  }
  res.writeHead(404).end();
}).listen(Number(process.env.PORT), "127.0.0.1", () => process.send && process.send("ready"));
`;

async function startBaseline() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "bench-baseline-"));
  const file = join(dir, "baseline.cjs");
  writeFileSync(file, BASELINE_SOURCE);
  const child: ChildProcess = spawn("taskset", ["-c", SERVER_CORE, process.execPath, "--expose-gc", file], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve) => child.once("message", () => resolve()));
  return {
    child,
    port,
    output: () => output,
    stop: () => (child.kill(), rmSync(dir, { recursive: true, force: true })),
  };
}

function appTarget(app: AppServer, cookie: string, name: string, headers: Record<string, string> = {}): Target {
  const input = encodeURIComponent(JSON.stringify({ json: { names: ["notification.created"] } }));
  return {
    name,
    pid: app.process.pid!,
    output: () => app.output(),
    streamUrl: `${app.baseUrl}/api/trpc/events.onEvent?input=${input}`,
    streamHeaders: { cookie, ...headers },
    emit: (message) =>
      post(
        `${app.baseUrl}/api/trpc/notification.send`,
        JSON.stringify({ json: { target: { kind: "organization" }, message } }),
        { cookie },
      ),
  };
}

/**
 * Connects by sessions the server has not seen yet, as after a deploy when
 * every browser reconnects to a new process: NEW_SESSIONS sign-ins, each by a
 * user of its own (seeded by bench/seed-users.ts), then one stream each, all
 * at once, subscribed to every name and resuming from the newest event id, as
 * the app's page does. Each connect costs Auth.js's decryption of the cookie,
 * the sign-in's check, the user's entitlement lookup, the replay and their
 * arrival's presence event to those already on.
 */
async function newSessionConnects(app: AppServer, adminCookie: string) {
  const cookies: string[] = [];
  for (let i = 0; i < NEW_SESSIONS; i += 8) {
    const batch = Array.from({ length: Math.min(8, NEW_SESSIONS - i) }, (_, j) =>
      signIn(app.baseUrl, `load-${i + j}@acme.test`),
    );
    cookies.push(...(await Promise.all(batch)));
  }
  // Each resumes from a recent cursor, as a page that was live before the deploy does.
  const sent = await fetch(`${app.baseUrl}/api/trpc/notification.send`, {
    method: "POST",
    headers: { cookie: adminCookie, "content-type": "application/json" },
    body: JSON.stringify({ json: { target: { kind: "self" }, message: "cursor" } }),
  });
  const head = ((await sent.json()) as { result: { data: { json: { id: string } } } }).result.data.json.id;
  const input = encodeURIComponent(JSON.stringify({ json: { lastEventId: head } }));
  const url = `${app.baseUrl}/api/trpc/events.onEvent?input=${input}`;
  await sleep(500);
  const counters: Counters = { delivered: 0, latencies: [] };
  markPhase("new sessions connect");
  const { streams, failed, ...rates } = await openMany(
    cookies.map((cookie) => ({ cookie })),
    url,
    counters,
    app.process.pid!,
  );
  markPhase("new sessions connected");
  for (const s of streams) s.close();
  await sleep(500);
  return { sessions: cookies.length, streams: streams.length, failedConnections: failed, ...rates };
}

/**
 * With BENCH_PROFILE=1, where a phase starts on the profile's clock (the
 * monotonic clock, in microseconds, as a CPU profile's `startTime`), to cut
 * the app server's profile into phases.
 */
function markPhase(name: string): void {
  if (process.env.BENCH_PROFILE === "1") console.log(`phase ${process.hrtime.bigint() / 1000n} ${name}`);
}

/**
 * CPU of one event to one user while N streams of another user stay open,
 * against a broadcast to all of them. Both go through the mutation, whose own
 * cost (HTTP, session, validation, the durable write) is measured too: an
 * emit to a user with no open stream. The mutation path is warmed up first
 * (the JIT and the embedded database's WebAssembly take a few thousand calls
 * to settle), and the CPU the open streams cost anyway (heartbeats, timers),
 * measured idle in the same state, is taken out of each phase ("net"; the raw
 * figures are printed beside it). Targeted emits and broadcasts alternate in
 * rounds (BENCH_TARGETED_ROUNDS), each round's ratio taken from its own two
 * phases, since this machine's speed drifts by tens of percent between runs.
 */
async function targetedCost(app: AppServer, aliceCookie: string) {
  const bobCookie = await signIn(app.baseUrl, "bob@acme.test");
  const recipients = await fetch(`${app.baseUrl}/api/trpc/notification.recipients`, {
    headers: { cookie: aliceCookie },
  });
  const body = (await recipients.json()) as { result: { data: { json: { id: string; email: string }[] } } };
  const bob = body.result.data.json.find((u) => u.email === "bob@acme.test")!;
  const target = appTarget(app, aliceCookie, "targeted");
  const streams: Stream[] = [];
  for (let i = 0; i < N; i += CONNECT_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CONNECT_CONCURRENCY, N - i) }, () =>
      openStream(target.streamUrl, target.streamHeaders, { delivered: 0, latencies: [] }),
    );
    streams.push(...(await Promise.all(batch)));
  }
  const pid = app.process.pid!;
  const send = (targetJson: object) =>
    post(
      `${app.baseUrl}/api/trpc/notification.send`,
      JSON.stringify({ json: { target: targetJson, message: `bench@${performance.now()}` } }),
      { cookie: aliceCookie },
    );
  const idleCpuPerSecond = async (seconds: number) => {
    const start = cpuSeconds(pid);
    await sleep(seconds * 1_000);
    return (cpuSeconds(pid) - start) / seconds;
  };
  const cpuPerEmit = async (targetJson: object, emits: number, idlePerSecond: number) => {
    markPhase(`targeted phase ${JSON.stringify(targetJson)}`);
    const start = cpuSeconds(pid);
    const wallStart = performance.now();
    for (let i = 0; i < emits; i++) await send(targetJson);
    await sleep(1_000); // deliveries finish
    const cpu = cpuSeconds(pid) - start;
    const wall = (performance.now() - wallStart) / 1_000;
    return { raw: cpu / emits, net: Math.max(0, cpu - idlePerSecond * wall) / emits };
  };
  const toBob = { kind: "user", userId: bob.id };
  for (let i = 0; i < TARGETED_WARMUP; i++) await send(toBob); // bob has no stream yet
  await sleep(1_000);
  // Over one whole heartbeat period: the N streams' heartbeats come in bursts.
  const idle = await idleCpuPerSecond(IDLE_WINDOW_S);
  const noRecipient = await cpuPerEmit(toBob, 500, idle);
  const bobCounters: Counters = { delivered: 0, latencies: [] };
  const bobStream = await openStream(target.streamUrl, { cookie: bobCookie }, bobCounters);
  // Bob coming online is announced to every open stream of the organisation (one presence
  // event to all N): a connect's cost, not an emit's, so it is let finish before measuring.
  await sleep(2_000);
  const rounds: { targeted: typeof noRecipient; broadcast: typeof noRecipient }[] = [];
  for (let round = 0; round < TARGETED_ROUNDS; round++) {
    const targeted = await cpuPerEmit(toBob, 150, idle);
    rounds.push({ targeted, broadcast: await cpuPerEmit({ kind: "organization" }, 6, idle) });
  }
  for (const s of [...streams, bobStream]) s.close();
  await sleep(1_000);
  const ms = (seconds: number) => Number((seconds * 1e3).toFixed(2));
  const ratio = (value: number) => Number(value.toFixed(4));
  const medianOf = (pick: (r: (typeof rounds)[number]) => number) => median(rounds.map(pick));
  const ratios = rounds.map((r) => r.targeted.net / r.broadcast.net);
  const targetedNet = medianOf((r) => r.targeted.net);
  const broadcastNet = medianOf((r) => r.broadcast.net);
  return {
    openStreams: N + 1,
    rounds: rounds.length,
    idleCpuMsPerSecond: ms(idle),
    cpuMsPerEmitToNobody: ms(noRecipient.net),
    cpuMsPerTargetedEmit: ms(targetedNet),
    cpuMsPerBroadcastEmit: ms(broadcastNet),
    targetedOverBroadcast: ratio(median(ratios)),
    targetedOverBroadcastRange: `${ratio(Math.min(...ratios))}–${ratio(Math.max(...ratios))}`,
    deliveryShareTargetedOverBroadcast: ratio(
      Math.max(0, targetedNet - noRecipient.net) / (broadcastNet - noRecipient.net),
    ),
    raw: {
      cpuMsPerEmitToNobody: ms(noRecipient.raw),
      cpuMsPerTargetedEmit: ms(medianOf((r) => r.targeted.raw)),
      cpuMsPerBroadcastEmit: ms(medianOf((r) => r.broadcast.raw)),
      targetedOverBroadcast: ratio(median(rounds.map((r) => r.targeted.raw / r.broadcast.raw))),
    },
    perRoundMs: rounds.map((r) => `${ms(r.targeted.net)} / ${ms(r.broadcast.net)}`),
    bobReceived: bobCounters.delivered,
  };
}

type Result = Awaited<ReturnType<typeof measure>>;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main() {
  const pinned = pinSelf();
  console.log(
    `fan-out: N=${N} streams, ${RATE} broadcasts/s for ${DURATION_S} s, ${ROUNDS} round(s); server on core ${SERVER_CORE}, load on core ${pinned ? LOAD_CORE : "any"}; node ${process.version}`,
  );
  const results: (Result & { round: number })[] = [];
  let targeted: Awaited<ReturnType<typeof targetedCost>> | undefined;
  let newSessions: Awaited<ReturnType<typeof newSessionConnects>> | undefined;

  // Both servers stay up (an idle one costs nothing) and are measured in turn, round after
  // round: this machine's speed drifts, and interleaving puts each app round next to a bare one.
  const baseline = TARGETS.includes("bare") ? await startBaseline() : undefined;
  const bareTarget: Target | undefined = baseline && {
    name: "bare node:http",
    pid: baseline.child.pid!,
    output: baseline.output,
    streamUrl: `http://127.0.0.1:${baseline.port}/api/events/stream`,
    streamHeaders: {},
    emit: (message) => post(`http://127.0.0.1:${baseline.port}/emit`, JSON.stringify({ message })),
  };
  const app = TARGETS.some((t) => t !== "bare")
    ? await startApp({
        build: process.env.BENCH_SKIP_BUILD !== "1",
        commandPrefix: ["taskset", "-c", SERVER_CORE],
        seed: [join(root, "bench", "seed-users.ts"), String(NEW_SESSIONS)],
        // BENCH_PROFILE=1 writes a CPU profile of the app server to bench/results/profiles on exit.
        nodeArgs: [
          "--expose-gc",
          ...(process.env.BENCH_PROFILE === "1"
            ? ["--cpu-prof", `--cpu-prof-dir=${join(root, "bench", "results", "profiles")}`]
            : []),
        ],
        env: {
          // Room for N streams plus the warm-up's and the new sessions' at once.
          EVENTS_MAX_CONNECTIONS: String(STREAM_ROOM),
          EVENTS_MAX_CONNECTIONS_PER_USER: String(STREAM_ROOM),
          EVENTS_MAX_CONNECTIONS_PER_ORGANIZATION: String(STREAM_ROOM),
          // Every simulated client connects and signs in from 127.0.0.1.
          RATE_LIMIT_STREAM_OPENS_PER_IP: "0",
          RATE_LIMIT_SIGNINS_PER_IP: "0",
          EVENTS_RETENTION_COUNT: "10000",
          ESCROW_JOB_INTERVAL_MS: "0",
          // The benchmark emits as one user far above the per-user default.
          RATE_LIMIT_EMITS_PER_USER: "1000000",
          RATE_LIMIT_EMITS_PER_ORGANIZATION: "1000000",
          LOG_LEVEL: "error",
        },
      })
    : undefined;
  try {
    const cookie = app ? await signIn(app.baseUrl, "alice@acme.test") : "";
    const withConsole = app && TARGETS.includes("app") && process.env.BENCH_CONSOLE !== "0";
    if (withConsole && !hasChromium) console.warn("console-open rounds SKIPPED: needs Chromium (CHROMIUM_PATH)");
    const operatorConsole = withConsole && hasChromium ? await consoleBrowser(app) : null;
    for (let round = 1; round <= ROUNDS; round++) {
      if (bareTarget) results.push({ ...(await measure(bareTarget)), round });
      if (app && TARGETS.includes("app")) {
        results.push({ ...(await measure(appTarget(app, cookie, "app (fast path)"))), round });
      }
      if (app && operatorConsole) {
        const page = await operatorConsole.open();
        results.push({ ...(await measure(appTarget(app, cookie, CONSOLE_OPEN))), round });
        await operatorConsole.close(page);
      }
    }
    await operatorConsole?.browser.close();
    // Before the stock handler's run, which leaves the process busy collecting its garbage.
    if (app && TARGETS.includes("app") && NEW_SESSIONS > 0) {
      newSessions = await newSessionConnects(app, cookie);
    }
    if (app && TARGETS.includes("stock")) {
      const stock = appTarget(app, cookie, "app via tRPC stock handler", { "x-events-transport": "trpc" });
      results.push({ ...(await measure(stock)), round: 1 });
    }
    if (app && process.env.BENCH_TARGETED === "1") targeted = await targetedCost(app, cookie);
  } finally {
    baseline?.stop();
    await app?.stop();
  }

  console.table(results);
  // Each target against the bare server of the same round; the median over rounds, with its range.
  const bareOf = (round: number) => results.find((r) => r.target === "bare node:http" && r.round === round);
  const ratio = (a: number, b: number | undefined) => (b && Number.isFinite(a) ? a / b : NaN);
  const fixed = (x: number) => Number(x.toFixed(2));
  const summary = (values: number[]) =>
    values.length > 1
      ? `${fixed(median(values))} (${fixed(Math.min(...values))}–${fixed(Math.max(...values))})`
      : String(fixed(values[0] ?? NaN));
  const ratios = [...new Set(results.map((r) => r.target))]
    .filter((name) => name !== "bare node:http")
    .map((name) => {
      const rows = results.filter((r) => r.target === name && bareOf(r.round));
      const of = (pick: (r: Result) => number) => rows.map((r) => ratio(pick(r), pick(bareOf(r.round)!)));
      return {
        target: name,
        rounds: rows.length,
        cpuPerDelivery: summary(of((r) => r.cpuMicrosPerDelivery)),
        memoryPerStream: summary(of((r) => r.heapKibPerStream)),
        rssPerStream: summary(of((r) => r.rssKibPerStream)),
        p99: summary(of((r) => r.p99Ms)),
        subscriptionsPerSecond: summary(rows.map((r) => r.subscriptionsPerSecond)),
        deliveredPct: Math.min(...rows.map((r) => r.deliveredPct)),
      };
    });
  if (bareTarget) {
    console.log("as a ratio to the bare server of the same round (1.00 = the same cost); median (range) over rounds:");
    console.table(ratios);
  }
  if (newSessions) console.log("connects by sessions new to the server (one stream each, all at once):", newSessions);
  if (targeted) console.log("one event to one user among the open streams, against a broadcast:", targeted);
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  writeFileSync(
    join(root, "bench", "results", "fanout-latest.json"),
    `${JSON.stringify({ date: new Date().toISOString(), n: N, rate: RATE, durationS: DURATION_S, rounds: ROUNDS, node: process.version, results, ratios, newSessions, targeted }, null, 2)}\n`,
  );
  if (bareTarget && results.some((r) => r.target !== "bare node:http")) {
    writeResults(results, ratios, newSessions, targeted);
  }
  agent.destroy();
}

const CONSOLE_OPEN = "app, operator console open";

/** A headless Chromium signed in as the platform operator; `open` shows /admin until `close`. */
async function consoleBrowser(app: AppServer) {
  const browser: Browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const cookie = await signIn(app.baseUrl, "olivia@platform.test");
  await context.addCookies(cookiesFor(cookie, app.baseUrl));
  return {
    browser,
    async open(): Promise<Page> {
      const page = await context.newPage();
      await page.goto(`${app.baseUrl}/admin`);
      await page.waitForSelector('[data-testid="console-status"]:text("live")', { timeout: 30_000 });
      return page;
    },
    async close(page: Page): Promise<void> {
      await page.close();
    },
  };
}

/** One table per scenario in bench/RESULTS.md: each target's rounds, and the ratios to the bare server. */
function writeResults(
  results: (Result & { round: number })[],
  ratios: { target: string; cpuPerDelivery: string; memoryPerStream: string; p99: string }[],
  newSessions: Awaited<ReturnType<typeof newSessionConnects>> | undefined,
  targeted: Awaited<ReturnType<typeof targetedCost>> | undefined,
) {
  const perRound = (target: string, pick: (r: Result) => number, digits = 1) =>
    results
      .filter((r) => r.target === target)
      .map((r) => pick(r).toFixed(digits))
      .join(" / ");
  const targets = [...new Set(results.map((r) => r.target))];
  const rows: (string | number)[][] = targets.map((target) => [
    target,
    `${Math.min(...results.filter((r) => r.target === target).map((r) => r.deliveredPct))} %`,
    `${perRound(target, (r) => r.cpuMicrosPerDelivery)} µs`,
    `${perRound(target, (r) => r.p99Ms)} ms`,
    `${perRound(target, (r) => r.heapKibPerStream)} KiB`,
    perRound(target, (r) => r.subscriptionsPerSecond, 0),
  ]);
  for (const ratio of ratios) {
    rows.push([
      `**ratio** ${ratio.target} / bare (median, range)`,
      "",
      `**×${ratio.cpuPerDelivery}**`,
      `×${ratio.p99}`,
      `**×${ratio.memoryPerStream}**`,
      "",
    ]);
  }
  let body = table(
    ["server", "delivered", "CPU per delivery (per round)", "p99 (per round)", "heap per stream", "subscriptions/s"],
    rows,
  );
  const consoleRatios = results
    .filter((r) => r.target === CONSOLE_OPEN)
    .map((open) => {
      const closed = results.find((r) => r.target === "app (fast path)" && r.round === open.round);
      return closed ? open.cpuMicrosPerDelivery / closed.cpuMicrosPerDelivery : NaN;
    })
    .filter(Number.isFinite);
  if (consoleRatios.length) {
    const sorted = [...consoleRatios].sort((a, b) => a - b);
    body += `

Operator console open against closed, same round, CPU per delivery: ×${median(consoleRatios).toFixed(2)} (${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)}) over ${consoleRatios.length} round(s).`;
  }
  if (newSessions) {
    body += `

Connects by ${newSessions.sessions} sessions new to the server, all at once (one stream each, resuming): ${newSessions.subscriptionsPerSecond.toFixed(0)} per second, ${(newSessions.cpuMicrosPerSubscription / 1000).toFixed(2)} ms of server CPU each, ${newSessions.failedConnections} failed.`;
  }
  if (targeted)
    body += `

One event to one user among the open streams, against a broadcast: ${JSON.stringify(targeted)}.`;
  writeScenario(
    `fanout-${N}-${RATE}-${DURATION_S}`,
    `Fan-out: N = ${N.toLocaleString("en")} streams, ${RATE} events/s, ${DURATION_S} s, ${ROUNDS} round(s)`,
    body,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
