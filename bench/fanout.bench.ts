/**
 * Fan-out benchmark: the shipped app (production build, `next start`, tRPC
 * SSE subscriptions, Auth.js sessions) against a bare node:http SSE server (a
 * Set of responses and one pre-serialised frame) in the same run, on loopback.
 *
 * Both servers get the same clients (raw HTTP, parsing SSE frames) and the
 * same load: C open streams, then E events emitted one after another through
 * an HTTP request, each delivered to every stream. Reported as ratios to the
 * baseline: time until every stream has every event, and server memory per
 * open stream.
 *
 *   npm run bench                         # C=500, E=200
 *   BENCH_CLIENTS=1000 BENCH_EVENTS=100 npm run bench
 *   BENCH_SKIP_BUILD=1 npm run bench      # reuse .next
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { root, signIn, startApp } from "../tests/helpers/app-server";
import { freePort } from "../tests/helpers/ports";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 500);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Opens an SSE stream and counts `data:` frames whose payload contains `marker`. */
function openStream(url: string, headers: Record<string, string>, marker: string, onEvent: () => void) {
  return new Promise<http.ClientRequest>((resolve, reject) => {
    const req = http.get(url, { headers: { accept: "text/event-stream", ...headers }, agent }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      let buffer = "";
      let ready = false;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!ready && (frame.includes("system.ready") || frame.includes("event: hello"))) {
            ready = true;
            resolve(req);
          }
          if (frame.includes(marker)) onEvent();
        }
      });
    });
    req.on("error", reject);
  });
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
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

interface Target {
  name: string;
  pid: number;
  streamUrl: string;
  streamHeaders: Record<string, string>;
  emit: (i: number) => Promise<number>;
}

async function measure(target: Target) {
  // Prime: load the route modules (Next compiles and loads lazily) before the baseline reading.
  const primer = await openStream(target.streamUrl, target.streamHeaders, "never", () => {});
  primer.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const rssBefore = rssKiB(target.pid);
  let delivered = 0;
  const expected = CLIENTS * EVENTS;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const onEvent = () => {
    if (++delivered === expected) resolveDone();
  };
  const streams: http.ClientRequest[] = [];
  for (let i = 0; i < CLIENTS; i += 50) {
    const batch = Array.from({ length: Math.min(50, CLIENTS - i) }, () =>
      openStream(target.streamUrl, target.streamHeaders, "bench-event", onEvent),
    );
    streams.push(...(await Promise.all(batch)));
  }
  await new Promise((r) => setTimeout(r, 500));
  const rssConnected = rssKiB(target.pid);
  const started = process.hrtime.bigint();
  for (let i = 0; i < EVENTS; i++) {
    const status = await target.emit(i);
    if (status >= 300) throw new Error(`${target.name}: emit answered ${status}`);
  }
  const timeout = setTimeout(() => {
    console.error(`${target.name}: only ${delivered}/${expected} deliveries after 120 s`);
    process.exit(1);
  }, 120_000);
  await done;
  clearTimeout(timeout);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  for (const s of streams) s.destroy();
  await new Promise((r) => setTimeout(r, 500));
  return {
    ms,
    deliveriesPerSecond: expected / (ms / 1000),
    kibPerStream: Math.max(0, rssConnected - rssBefore) / CLIENTS,
  };
}

// --- baseline: bare node:http SSE, a Set of responses ------------------------
const BASELINE_SOURCE = `
const http = require("node:http");
const clients = new Set();
let id = 0;
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
      const frame = "id: " + ++id + "\\nevent: notification.created\\ndata: " + JSON.stringify(JSON.parse(body)) + "\\n\\n";
      for (const c of clients) if (!c.destroyed) c.write(frame);
      res.writeHead(202).end();
    });
    return;
  }
  res.writeHead(404).end();
}).listen(Number(process.env.PORT), "127.0.0.1", () => process.send && process.send("ready"));
`;

async function startBaseline(port: number) {
  const dir = mkdtempSync(join(tmpdir(), "bench-baseline-"));
  const file = join(dir, "baseline.cjs");
  writeFileSync(file, BASELINE_SOURCE);
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((r) => child.once("message", () => r()));
  return { child, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// --- the app ----------------------------------------------------------------
async function startBenchApp() {
  const app = await startApp({
    build: process.env.BENCH_SKIP_BUILD !== "1",
    env: {
      EVENTS_MAX_CONNECTIONS: String(CLIENTS * 2 + 100),
      EVENTS_MAX_CONNECTIONS_PER_USER: String(CLIENTS * 2 + 100),
      EVENTS_RETENTION_COUNT: String(EVENTS * ROUNDS * 2 + 100),
      ESCROW_JOB_INTERVAL_MS: "0",
    },
  });
  const cookie = await signIn(app.baseUrl, "alice@acme.test");
  return { app, cookie };
}

function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main() {
  console.log(`fan-out: ${CLIENTS} streams × ${EVENTS} events, ${ROUNDS} rounds each, loopback`);
  const basePort = await freePort();
  const baseline = await startBaseline(basePort);
  const { app, cookie } = await startBenchApp();
  const input = encodeURIComponent(JSON.stringify({ json: { names: ["notification.created"] } }));

  const targets: Target[] = [
    {
      name: "baseline (bare node:http SSE)",
      pid: baseline.child.pid!,
      streamUrl: `http://127.0.0.1:${basePort}/api/events/stream`,
      streamHeaders: {},
      emit: (i) => post(`http://127.0.0.1:${basePort}/emit`, JSON.stringify({ message: `bench-event ${i}` })),
    },
    {
      name: "app (Next.js + tRPC SSE + event bus)",
      pid: app.process.pid!,
      streamUrl: `${app.baseUrl}/api/trpc/events.onEvent?input=${input}`,
      streamHeaders: { cookie },
      emit: (i) =>
        post(
          `${app.baseUrl}/api/trpc/notification.send`,
          JSON.stringify({ json: { target: { kind: "organization" }, message: `bench-event ${i}` } }),
          { cookie },
        ),
    },
  ];

  const results: Record<string, Awaited<ReturnType<typeof measure>>[]> = {};
  // The first round's memory reading is the honest one (RSS rarely shrinks
  // afterwards); its time includes JIT warm-up and is not used.
  const firstKib: Record<string, number> = {};
  for (const t of targets) firstKib[t.name] = (await measure(t)).kibPerStream;
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets) (results[t.name] ??= []).push(await measure(t));
  }

  const summary = targets.map((t) => {
    const runs = results[t.name]!;
    return {
      target: t.name,
      medianMs: Math.round(median(runs.map((x) => x.ms))),
      deliveriesPerSecond: Math.round(median(runs.map((x) => x.deliveriesPerSecond))),
      kibPerStream: Number(firstKib[t.name]!.toFixed(1)),
    };
  });
  const [base, ours] = summary as [(typeof summary)[number], (typeof summary)[number]];
  console.table(summary);
  const ratios = {
    timeRatio: Number((ours.medianMs / base.medianMs).toFixed(2)),
    memoryPerStreamRatio: base.kibPerStream > 0 ? Number((ours.kibPerStream / base.kibPerStream).toFixed(2)) : null,
  };
  console.log(`app / baseline: time ×${ratios.timeRatio}, memory per stream ×${ratios.memoryPerStreamRatio ?? "n/a"}`);
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  writeFileSync(
    join(root, "bench", "results", "fanout-latest.json"),
    `${JSON.stringify({ date: new Date().toISOString(), clients: CLIENTS, events: EVENTS, rounds: ROUNDS, node: process.version, summary, ratios }, null, 2)}\n`,
  );

  baseline.child.kill();
  await app.stop();
  baseline.cleanup();
  agent.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
