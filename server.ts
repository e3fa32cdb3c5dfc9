/**
 * The app's HTTP server. Next.js serves pages and Auth.js; live event streams
 * go to the SSE fast path, and (in production) tRPC's queries and mutations
 * straight to tRPC's handler: see src/server/transport/node-server.ts. The
 * process's dependencies come from the runtime that src/instrumentation.ts
 * builds when Next starts (src/server/runtime).
 *
 * On SIGTERM or SIGINT it stops accepting, ends every open stream with a
 * reconnect hint (clients resume from their last id), lets in-flight
 * requests finish and exits within EVENTS_SHUTDOWN_TIMEOUT_MS.
 *
 *   node --import tsx/esm server.ts [-p PORT] [-H HOSTNAME]          production (npm start)
 *   node --import tsx/esm server.ts --dev [-p PORT] [-H HOSTNAME]    development with hot reload (npm run dev)
 *
 * Settings come from the environment or `.env` files (loaded here, as Next
 * loads them), validated by src/env.js: a bad value stops start-up, named.
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import nextEnv from "@next/env";

const { values: args } = parseArgs({
  options: {
    dev: { type: "boolean", default: false },
    port: { type: "string", short: "p" },
    hostname: { type: "string", short: "H" },
  },
});
const dev = args.dev;
(process.env as Record<string, string | undefined>).NODE_ENV ??= dev ? "development" : "production";
// Before anything reads the environment: `.env`, `.env.local`, `.env.production`… as Next reads them.
nextEnv.loadEnvConfig(process.cwd(), dev, {
  info: () => {},
  error: (...message: unknown[]) => console.error(...message),
});
if (args.port !== undefined) process.env.PORT = args.port;
if (args.hostname !== undefined) process.env.HOSTNAME = args.hostname;

const { env } = await import("./src/env.js");
const { default: next } = await import("next");
const { whenPublished } = await import("./src/server/runtime/index");
const { createRequestListener } = await import("./src/server/transport/node-server");

const port = env.PORT;
const hostname = env.HOSTNAME ?? (dev ? "localhost" : "0.0.0.0");

const log = (level: string, fields: Record<string, unknown>, msg: string) =>
  process.stdout.write(
    `${JSON.stringify({ level, time: new Date().toISOString(), service: "t3-live-events", ...fields, msg })}\n`,
  );

const app = next({ dev, hostname, port });
const handle = app.getRequestHandler();
await app.prepare();
// Built by src/instrumentation.ts, which Next runs once it is prepared.
const published = setTimeout(() => {
  log("fatal", { event: "server.no_runtime" }, "src/instrumentation.ts did not publish the runtime within 60 s");
  process.exit(1);
}, 60_000);
const { sse, trpcNode } = await whenPublished();
clearTimeout(published);

const listener = createRequestListener({
  sse,
  streamProcedures: () => sse.streamProcedures(),
  trpc: dev ? null : trpcNode,
  next: handle,
  trustProxyHops: env.TRUST_PROXY_HOPS,
  allowStockStreams: env.EVENTS_ALLOW_STOCK_SSE,
});
const server = createServer(listener);
server.keepAliveTimeout = 65_000;
server.listen(port, hostname, () => {
  const address = server.address();
  const listening = typeof address === "object" && address ? address.port : port;
  log("info", { event: "server.listening", url: `http://${hostname}:${listening}`, dev }, "listening");
});

let closing = false;
function shutdown(signal: NodeJS.Signals): void {
  if (closing) return;
  closing = true;
  listener.close();
  const started = Date.now();
  log("info", { event: "server.shutdown", signal }, "shutting down");
  const hardStop = setTimeout(() => {
    log(
      "warn",
      { event: "server.shutdown_timeout", timeoutMs: env.EVENTS_SHUTDOWN_TIMEOUT_MS },
      "shutdown timed out; exiting",
    );
    server.closeAllConnections();
    process.exit(0);
  }, env.EVENTS_SHUTDOWN_TIMEOUT_MS);
  hardStop.unref();
  server.close(() => {
    log("info", { event: "server.stopped", ms: Date.now() - started }, "stopped");
    process.exit(0);
  });
  // Each open stream is told when to reconnect, paced, so the process that takes the clients
  // over is not handed all of them in the same second.
  const ended = sse.drain(env.EVENTS_DRAIN_RECONNECTS_PER_SECOND);
  log("info", { event: "server.streams_ended", streams: ended }, "open streams ended");
  // Sockets go idle as their last responses finish: close them as they do.
  server.closeIdleConnections();
  setInterval(() => server.closeIdleConnections(), 100).unref();
}
// Benchmarks read memory after a forced collection: only with `node --expose-gc`,
// SIGUSR2 runs a full collection and logs what is left.
if (typeof gc === "function")
  process.on("SIGUSR2", () => {
    gc?.();
    const { rss, heapUsed, external } = process.memoryUsage();
    log("info", { event: "server.memory", rss, heapUsed, external }, "memory after a full collection");
  });
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
