/**
 * `GET /api/trpc/events.onEvent` without Next's and tRPC's per-connection
 * web-stream pipeline. Nothing is bypassed: the session is read by Auth.js,
 * and the request runs the real procedure through tRPC's caller (input
 * schema, middleware, limits, error mapping and logs); only the bytes go
 * straight to Node's response, through a sink the procedure writes to.
 * What it writes is what tRPC's SSE handler writes, so `httpSubscriptionLink`
 * cannot tell them apart.
 *
 * Requests it does not recognise (a batch, a POST, an unparsable input) are
 * left to Next's handler, which answers them exactly as before.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { getErrorShape, getTRPCErrorFromUnknown, sseHeaders } from "@trpc/server/unstable-core-do-not-import";

import { securityHeadersFor } from "~/server/http/security-headers";
import superjson from "superjson";

import { appRouter, createCaller } from "~/server/api/root";
import { createSseContext, toTRPCError } from "~/server/api/trpc";
import { getEventLayer } from "~/server/event-layer";
import { logger } from "~/server/logger";
import { connectedFrame, errorFrame } from "./frames";
import { SseHub } from "./sse-hub";

export const FAST_PATH = "/api/trpc/events.onEvent";
const PROCEDURE = "events.onEvent";

export interface SseFastPathOptions {
  maxBacklogBytes: number;
  stallTimeoutMs: number;
}

export interface SseFastPath {
  /** Serves the request and returns true, or returns false to leave it to Next. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Security headers for an answer to this request (server.js sets them on everything it does not stream). */
  securityHeaders(req: IncomingMessage): Readonly<Record<string, string>>;
  /** Holds a stream tRPC's stock handler serves (where allowed) to the fast path's bounds and drain. */
  guard(res: ServerResponse): void;
  /** Stops taking streams and ends the open ones with reconnect hints paced at this rate; returns how many. */
  drain(reconnectsPerSecond: number): number;
  readonly hub: SseHub;
}

const config = appRouter._def._config;

function errorShape(error: unknown, input: unknown): Buffer {
  return errorFrame(
    getErrorShape({
      config,
      error: getTRPCErrorFromUnknown(toTRPCError(error)),
      type: "subscription",
      path: PROCEDURE,
      input,
      ctx: undefined,
    }),
  );
}

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

const streamHeaders = { ...sseHeaders, ...securityHeadersFor(undefined) };
const secureStreamHeaders = { ...sseHeaders, ...securityHeadersFor("https") };

export function createSseFastPath(options: SseFastPathOptions): SseFastPath {
  const layer = getEventLayer();
  const clientOptions = config.sse?.client ?? {};
  const connected = connectedFrame(clientOptions);
  // A drained fleet returns within a minute, and a second inside the client's inactivity window:
  // tRPC's link replaces an EventSource silent that long, and the replacement connects at once.
  const inactivityMs = clientOptions.reconnectAfterInactivityMs;
  const maxDrainSpreadMs = Math.min(60_000, inactivityMs ? Math.max(0, inactivityMs - 1_000) : Infinity);
  const hub = new SseHub({
    pingIntervalMs: layer.config.pingIntervalMs,
    maxBacklogBytes: options.maxBacklogBytes,
    stallTimeoutMs: options.stallTimeoutMs,
    formatError: (error) => errorShape(error, undefined),
    logger: logger.child({ component: "sse" }),
  });

  async function serve(req: IncomingMessage, res: ServerResponse, input: unknown) {
    // The headers, `connected`, the replay and `system.ready` (or the refusal) leave in one
    // write once the subscription is open: each write wakes the client, and costs as much
    // CPU as a delivery.
    const socket = res.socket;
    socket?.cork();
    // Passed to writeHead, not set one by one: a response's own header map would live as long as the stream.
    res.writeHead(200, req.headers["x-forwarded-proto"] === "https" ? secureStreamHeaders : streamHeaders);
    const connection = hub.open(res);
    connection.send(connected);
    try {
      const ctx = await createSseContext(req.headers, connection);
      forgetCookie(req);
      await createCaller(ctx).events.onEvent(
        input as Parameters<ReturnType<typeof createCaller>["events"]["onEvent"]>[0],
      );
    } catch (error) {
      // Refused before the stream started (no session, bad input, a limit): as tRPC does, after `connected`.
      connection.send(errorShape(error, input));
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
      if (url.pathname !== FAST_PATH || url.searchParams.has("batch")) return false;
      const parsed = rawInput(url, req);
      if (!parsed.ok) return false;
      serve(req, res, parsed.input).catch((error: unknown) => {
        logger.error({ event: "sse.failed", err: error }, "SSE fast path failed");
        res.destroy();
      });
      return true;
    },
    securityHeaders: (req) => securityHeadersFor(req.headers["x-forwarded-proto"]),
    guard: (res) => hub.guard(res),
    drain: (reconnectsPerSecond) => hub.drain({ reconnectsPerSecond, maxSpreadMs: maxDrainSpreadMs }),
  };
}
