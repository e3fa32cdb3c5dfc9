/**
 * The app's HTTP server: Next.js for every request, except live event
 * streams (`GET /api/trpc/events.onEvent`), which the SSE fast path serves
 * straight onto Node's response (src/server/sse). On SIGTERM or SIGINT it
 * stops accepting, ends every open stream with a reconnect hint (clients
 * resume from their last id), lets in-flight requests finish and exits
 * within EVENTS_SHUTDOWN_TIMEOUT_MS.
 *
 *   node server.js          production (npm start)
 *   node server.js --dev    development with hot reload (npm run dev)
 */
import { createServer } from "node:http";

const dev = process.argv.includes("--dev");
/** @type {Record<string, string | undefined>} */ (process.env).NODE_ENV ??= dev ? "development" : "production";
const { default: next } = await import("next");

const port = Number(process.env.PORT ?? 3000);
const hostname = process.env.HOSTNAME ?? (dev ? "localhost" : "0.0.0.0");
const shutdownTimeoutMs = Number(process.env.EVENTS_SHUTDOWN_TIMEOUT_MS ?? 10_000);
// On shutdown each open stream is told when to reconnect, paced at this rate (src/server/sse/fast-path.ts),
// so the process that takes the clients over is not handed all of them in the same second.
const drainReconnectsPerSecond = Number(process.env.EVENTS_DRAIN_RECONNECTS_PER_SECOND ?? 250);
if (!(drainReconnectsPerSecond > 0)) {
  throw new Error("EVENTS_DRAIN_RECONNECTS_PER_SECOND must be a number above 0");
}
// On by default in production. In development the stock tRPC handler serves
// streams, so edits to routers hot-reload there too.
const fastPathEnabled = process.env.EVENTS_FAST_PATH ? process.env.EVENTS_FAST_PATH === "true" : !dev;
// tRPC's stock handler stays reachable for comparisons (tests, benchmark) when allowed.
const stockAllowed = process.env.EVENTS_ALLOW_STOCK_SSE === "true";
const STREAM_PROCEDURE = "events.onEvent";
// Must match src/server/http/client-ip.ts.
const CLIENT_IP_HEADER = "x-live-events-client-ip";
// How many proxies of ours append to X-Forwarded-For in front of this server (0: clients connect directly).
const trustProxyHops = Number(process.env.TRUST_PROXY_HOPS ?? 0);

/**
 * The client's address for per-address limits: the socket's peer, or, behind
 * `trustProxyHops` proxies of ours, the address the outermost of them saw
 * (entries further left are whatever the client wrote, and are ignored).
 * @param {import("node:http").IncomingMessage} req
 */
function clientIp(req) {
  if (trustProxyHops > 0) {
    const header = req.headers["x-forwarded-for"];
    const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((s) => s.trim());
    const seen = hops[hops.length - trustProxyHops];
    if (seen) return seen;
  }
  return req.socket.remoteAddress ?? "unknown";
}

/**
 * Whether a request names the stream procedure, however its path is spelled:
 * tRPC percent-decodes the path and reads a comma-separated batch from it, so
 * `/api/trpc/events%2EonEvent` and `/api/trpc/a,events.onEvent` are streams too.
 * @param {string} url
 */
function isStreamRequest(url) {
  const query = url.indexOf("?");
  const path = query < 0 ? url : url.slice(0, query);
  let decoded;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return false; // tRPC cannot read it either
  }
  return decoded.includes(STREAM_PROCEDURE);
}

/** @typedef {{ handle(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): boolean; securityHeaders(req: import("node:http").IncomingMessage): Readonly<Record<string, string>>; guard(res: import("node:http").ServerResponse): void; drain(reconnectsPerSecond: number): number }} SseFastPath */
/** @typedef {(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => boolean} TrpcHandler */
/** Set by src/instrumentation.ts inside Next's bundle (the tRPC handler through src/server/process-singleton.ts). */
const installed = /** @type {{ __t3LiveEventsSse?: SseFastPath; "__t3LiveEvents:trpc-node-handler"?: TrpcHandler }} */ (
  globalThis
);

/** @param {string} level @param {Record<string, unknown>} fields @param {string} msg */
const log = (level, fields, msg) =>
  process.stdout.write(
    `${JSON.stringify({ level, time: new Date().toISOString(), service: "t3-live-events", ...fields, msg })}\n`,
  );

const app = next({ dev, hostname, port });
const handle = app.getRequestHandler();
await app.prepare();

let closing = false;

/**
 * The protocol and host the client addressed, for Auth.js (its cookie names
 * and URLs follow the protocol: `__Secure-` cookies over HTTPS only) and the
 * same-origin check. Set from the socket unless proxies of ours stand in
 * front, whose X-Forwarded-* headers are then kept; a client's own are never
 * believed. Without this, a request served outside Next's pipeline (streams,
 * tRPC) had no X-Forwarded-Proto, Auth.js assumed HTTPS, looked for the
 * `__Secure-` cookie a plain-HTTP sign-in never set, and found no session.
 * @param {import("node:http").IncomingMessage} req
 */
function forwardedHeaders(req) {
  if (trustProxyHops > 0 && req.headers["x-forwarded-proto"]) return;
  const encrypted = /** @type {import("node:tls").TLSSocket} */ (req.socket).encrypted === true;
  req.headers["x-forwarded-proto"] = encrypted ? "https" : "http";
  if (trustProxyHops === 0) delete req.headers["x-forwarded-host"];
}

const server = createServer((req, res) => {
  // Always overwritten: a value the client sent must never count.
  req.headers[CLIENT_IP_HEADER] = clientIp(req);
  forwardedHeaders(req);
  const url = req.url ?? "/";
  const isStream = isStreamRequest(url);
  if (closing) {
    // Requests still arriving on kept-alive sockets: no new streams here (the
    // client's retry finds the next process); anything else is answered and
    // the socket closed after it.
    if (isStream) return void req.socket.destroy();
    res.setHeader("connection", "close");
  }
  if (isStream && fastPathEnabled && !(stockAllowed && req.headers["x-events-transport"] === "trpc")) {
    const fastPath = installed.__t3LiveEventsSse;
    if (fastPath?.handle(req, res)) return; // with the security headers in its own writeHead
  }
  // Security headers on every other answer (src/server/http/security-headers.ts).
  for (const [name, value] of Object.entries(installed.__t3LiveEventsSse?.securityHeaders(req) ?? {})) {
    res.setHeader(name, value);
  }
  // Queries and mutations: tRPC's handler straight from Node, without Next's pipeline around it.
  if (!isStream && fastPathEnabled && installed["__t3LiveEvents:trpc-node-handler"]?.(req, res)) return;
  // Served by tRPC's stock handler (development, or where allowed): the fast path's bounds and drain hold it too.
  if (isStream) installed.__t3LiveEventsSse?.guard(res);
  void handle(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(port, hostname, () => {
  log(
    "info",
    { event: "server.listening", url: `http://${hostname}:${port}`, dev, fastPath: fastPathEnabled },
    "listening",
  );
});

/** @param {NodeJS.Signals} signal */
async function shutdown(signal) {
  if (closing) return;
  closing = true;
  const started = Date.now();
  log("info", { event: "server.shutdown", signal }, "shutting down");
  const hardStop = setTimeout(() => {
    log("warn", { event: "server.shutdown_timeout", timeoutMs: shutdownTimeoutMs }, "shutdown timed out; exiting");
    server.closeAllConnections();
    process.exit(0);
  }, shutdownTimeoutMs);
  hardStop.unref();
  server.close(() => {
    log("info", { event: "server.stopped", ms: Date.now() - started }, "stopped");
    process.exit(0);
  });
  const ended = installed.__t3LiveEventsSse?.drain(drainReconnectsPerSecond) ?? 0;
  log("info", { event: "server.streams_ended", streams: ended }, "open streams ended");
  // Sockets go idle as their last responses finish: close them as they do.
  server.closeIdleConnections();
  setInterval(() => server.closeIdleConnections(), 100).unref();
}
// Benchmarks read memory after a forced collection: only with `node --expose-gc`,
// SIGUSR2 runs a full collection and logs what is left.
const gc = /** @type {{ gc?: () => void }} */ (globalThis).gc;
if (gc)
  process.on("SIGUSR2", () => {
    gc();
    const { rss, heapUsed, external } = process.memoryUsage();
    log("info", { event: "server.memory", rss, heapUsed, external }, "memory after a full collection");
  });
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
