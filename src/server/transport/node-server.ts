/**
 * What server.ts does with each request before anything else reads it, and
 * where it sends it: live streams to the SSE fast path, tRPC's queries and
 * mutations straight to tRPC's handler (production), everything else to Next.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";

import { CLIENT_IP_HEADER } from "./client-ip";
import type { SseFastPath } from "./fast-path";
import { securityHeadersFor } from "./security-headers";
import { asksForStockStream, namesStreamProcedure, STOCK_TRANSPORT_HEADER } from "./stream-request";
import type { NodeRequestHandler } from "./trpc-node";

export interface RequestRouting {
  /** The SSE fast path (the runtime's). */
  sse: SseFastPath;
  /** Subscription paths the fast path serves. */
  streamProcedures: () => readonly string[];
  /** tRPC straight from Node, or null to leave tRPC to Next's route (development: it hot-reloads). */
  trpc: NodeRequestHandler | null;
  /** Next.js for everything else. */
  next: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** How many proxies of ours append to X-Forwarded-For in front of this server (0: clients connect directly). */
  trustProxyHops: number;
  /** tRPC's stock handler may serve a stream that asks for it (comparisons only). */
  allowStockStreams: boolean;
}

/**
 * The client's address for per-address limits: the socket's peer, or, behind
 * `hops` proxies of ours, the address the outermost of them saw (entries
 * further left are whatever the client wrote, and are ignored).
 */
export function clientIp(req: IncomingMessage, hops: number): string {
  if (hops > 0) {
    const header = req.headers["x-forwarded-for"];
    const seen = (Array.isArray(header) ? header.join(",") : (header ?? ""))
      .split(",")
      .map((s) => s.trim())
      .at(-hops);
    if (seen) return seen;
  }
  return req.socket.remoteAddress ?? "unknown";
}

/**
 * The protocol and host the client addressed, for Auth.js (its cookie names
 * and URLs follow the protocol: `__Secure-` cookies over HTTPS only) and the
 * same-origin check. Set from the socket unless proxies of ours stand in
 * front, whose X-Forwarded-* headers are then kept; a client's own are never
 * believed. Without this, a request served outside Next's pipeline (streams,
 * tRPC) had no X-Forwarded-Proto, Auth.js assumed HTTPS, looked for the
 * `__Secure-` cookie a plain-HTTP sign-in never set, and found no session.
 */
function setForwardedHeaders(req: IncomingMessage, hops: number): void {
  if (hops > 0 && req.headers["x-forwarded-proto"]) return;
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  req.headers["x-forwarded-proto"] = encrypted ? "https" : "http";
  if (hops === 0) delete req.headers["x-forwarded-host"];
}

export interface RequestListener {
  (req: IncomingMessage, res: ServerResponse): void;
  /** From now on: no new streams, and every answer closes its connection. */
  close(): void;
}

export function createRequestListener(routing: RequestRouting): RequestListener {
  let closing = false;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    // Always overwritten: a value the client sent must never count.
    req.headers[CLIENT_IP_HEADER] = clientIp(req, routing.trustProxyHops);
    setForwardedHeaders(req, routing.trustProxyHops);
    const isStream = namesStreamProcedure(req.url ?? "/", routing.streamProcedures());
    if (closing) {
      // Requests still arriving on kept-alive sockets: no new streams here (the
      // client's retry finds the next process); anything else is answered and
      // the socket closed after it.
      if (isStream) return void req.socket.destroy();
      res.setHeader("connection", "close");
    }
    const stock = isStream && routing.allowStockStreams && asksForStockStream(req.headers[STOCK_TRANSPORT_HEADER]);
    // With the security headers in its own writeHead.
    if (isStream && !stock && routing.sse.handle(req, res)) return;
    for (const [name, value] of Object.entries(securityHeadersFor(req.headers["x-forwarded-proto"]))) {
      res.setHeader(name, value);
    }
    if (!isStream && routing.trpc?.(req, res)) return;
    // A stream tRPC's stock handler serves (where allowed) is held to the fast path's bounds and drain;
    // any other spelling of a stream is refused there (src/server/api/handler.ts).
    if (stock) routing.sse.guard(res);
    void routing.next(req, res);
  };
  return Object.assign(listener, {
    close: () => {
      closing = true;
    },
  });
}
