/**
 * Live streams (`GET /api/trpc/<subscription>`) without Next's and tRPC's
 * per-connection web-stream pipeline. Nothing is bypassed: the context (the
 * session, read by Auth.js) and the procedure (input schema, middleware,
 * limits, error mapping and logs) are tRPC's, called through its public
 * `callTRPCProcedure`; only the bytes go straight to Node's response. The
 * procedure returns a `liveStream`, which the fast path takes over with a
 * sink instead of pulling it item by item. What it writes is what tRPC's SSE
 * handler writes, so `httpSubscriptionLink` cannot tell them apart
 * (tests/unit/trpc-wire.test.ts holds both to that).
 *
 * Requests it does not recognise (a batch, a POST, an unparsable input) are
 * left to the next handler, which refuses streams (src/server/api/handler.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { callTRPCProcedure, type AnyTRPCRouter } from "@trpc/server";
import superjson from "superjson";

import type { EventLayerLogger, Subscription, SubscriptionSink } from "~/server/events";
import { securityHeadersFor } from "./security-headers";
import { connectedFrame, errorFrame, SSE_HEADERS } from "./frames";
import { SseHub } from "./sse-hub";

/** The API whose subscriptions the fast path serves: the router Next compiled last (development reloads it). */
export interface StreamApi {
  router: AnyTRPCRouter;
  /** Subscription paths served here (`events.onEvent`). */
  streamProcedures: readonly string[];
  /** The procedure's context for a stream's request. */
  createContext(headers: IncomingHttpHeaders): Promise<unknown>;
  /** An error as tRPC's handler would shape it for `path`. */
  errorShape(error: unknown, path: string, input: unknown): unknown;
  /** Whether a procedure's result can be taken over by a sink. */
  isLiveStream(value: unknown): value is { pipeTo(sink: SubscriptionSink): Subscription };
  /** What `connected` tells the client (tRPC's `sse.client` options). */
  sseClientOptions: { reconnectAfterInactivityMs?: number };
}

export interface SseFastPathOptions {
  api: () => StreamApi;
  pingIntervalMs: number;
  maxBacklogBytes: number;
  stallTimeoutMs: number;
  logger: EventLayerLogger;
}

export interface SseFastPath {
  /** Serves the request and returns true, or returns false to leave it to the next handler. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Subscription paths served here (the mounted API's). */
  streamProcedures(): readonly string[];
  /** Holds a stream tRPC's stock handler serves (where allowed) to the fast path's bounds and drain. */
  guard(res: ServerResponse): void;
  /** Stops taking streams and ends the open ones with reconnect hints paced at this rate; returns how many. */
  drain(reconnectsPerSecond: number): number;
  readonly hub: SseHub;
}

const PREFIX = "/api/trpc/";

/** The procedure's raw input, as tRPC reads it from a GET: `?input=` (superjson) plus Last-Event-ID. */
function rawInput(url: URL, req: IncomingMessage): { ok: true; input: unknown } | { ok: false } {
  let input: unknown;
  const param = url.searchParams.get("input");
  if (param !== null) {
    try {
      input = superjson.deserialize(JSON.parse(param) as Parameters<typeof superjson.deserialize>[0]);
    } catch {
      return { ok: false };
    }
  }
  const header = req.headers["last-event-id"];
  const lastEventId =
    (typeof header === "string" ? header : undefined) ??
    url.searchParams.get("lastEventId") ??
    url.searchParams.get("Last-Event-Id");
  if (lastEventId) {
    if (typeof input === "object" && input !== null && !Array.isArray(input)) input = { ...input, lastEventId };
    else input ??= { lastEventId };
  }
  return { ok: true, input };
}

/**
 * A stream's request lives as long as the stream, hours maybe; its cookie
 * (the session token, most of a KiB) is not needed once the session is read.
 */
function forgetCookie(req: IncomingMessage): void {
  delete req.headers.cookie;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === "cookie") raw[i + 1] = "";
}

const streamHeaders = { ...SSE_HEADERS, ...securityHeadersFor(undefined) };
const secureStreamHeaders = { ...SSE_HEADERS, ...securityHeadersFor("https") };

export function createSseFastPath(options: SseFastPathOptions): SseFastPath {
  // A drained fleet returns within a minute, and a second inside the client's inactivity window:
  // tRPC's link replaces an EventSource silent that long, and the replacement connects at once.
  const maxDrainSpreadMs = () => {
    const inactivityMs = options.api().sseClientOptions.reconnectAfterInactivityMs;
    return Math.min(60_000, inactivityMs ? Math.max(0, inactivityMs - 1_000) : Infinity);
  };
  // One `connected` frame per client-options object (a development reload brings a new one).
  const connectedFrames = new WeakMap<object, Buffer>();
  const connectedFor = (clientOptions: object) => {
    let frame = connectedFrames.get(clientOptions);
    if (!frame) connectedFrames.set(clientOptions, (frame = connectedFrame(clientOptions)));
    return frame;
  };
  const hub = new SseHub({
    pingIntervalMs: options.pingIntervalMs,
    maxBacklogBytes: options.maxBacklogBytes,
    stallTimeoutMs: options.stallTimeoutMs,
    formatError: (error, connection) => errorFrame(options.api().errorShape(error, connection.path, undefined)),
    logger: options.logger,
  });

  async function serve(req: IncomingMessage, res: ServerResponse, api: StreamApi, path: string, input: unknown) {
    // The headers, `connected`, the replay and `system.ready` (or the refusal) leave in one
    // write once the subscription is open: each write wakes the client, and costs as much
    // CPU as a delivery.
    const socket = res.socket;
    socket?.cork();
    // Passed to writeHead, not set one by one: a response's own header map would live as long as the stream.
    res.writeHead(200, req.headers["x-forwarded-proto"] === "https" ? secureStreamHeaders : streamHeaders);
    const connection = hub.open(res);
    connection.path = path;
    connection.send(connectedFor(api.sseClientOptions));
    try {
      const ctx = await api.createContext(req.headers);
      forgetCookie(req);
      const result: unknown = await callTRPCProcedure({
        router: api.router,
        path,
        getRawInput: () => Promise.resolve(input),
        ctx,
        type: "subscription",
        signal: undefined,
        batchIndex: 0,
      });
      if (!api.isLiveStream(result)) throw new Error(`${path} did not return a live stream`);
      connection.attach(result.pipeTo(connection));
    } catch (error) {
      // Refused before the stream started (no session, bad input, a limit): as tRPC does, after `connected`.
      connection.send(errorFrame(api.errorShape(error, path, input)));
      connection.finish();
    } finally {
      socket?.uncork();
    }
  }

  return {
    hub,
    handle(req, res) {
      if (req.method !== "GET" || !hub.isAccepting) return false;
      const url = new URL(req.url ?? "/", "http://localhost");
      if (!url.pathname.startsWith(PREFIX) || url.searchParams.has("batch")) return false;
      const api = options.api();
      const path = url.pathname.slice(PREFIX.length);
      if (!api.streamProcedures.includes(path)) return false;
      const parsed = rawInput(url, req);
      if (!parsed.ok) return false;
      serve(req, res, api, path, parsed.input).catch((error: unknown) => {
        options.logger.error({ event: "sse.failed", err: error }, "SSE fast path failed");
        res.destroy();
      });
      return true;
    },
    streamProcedures: () => options.api().streamProcedures,
    guard: (res) => hub.guard(res),
    drain: (reconnectsPerSecond) => hub.drain({ reconnectsPerSecond, maxSpreadMs: maxDrainSpreadMs() }),
  };
}
