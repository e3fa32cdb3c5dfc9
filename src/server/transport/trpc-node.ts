/**
 * tRPC queries and mutations served straight from Node's request, for the
 * production server (server.ts): the same handler as Next's route
 * (src/server/api/handler.ts), without Next's routing, request wrapping and
 * response pipeline around it, which cost more CPU than the procedure itself
 * on a small mutation. Streamed batch responses (httpBatchStreamLink) are
 * written as they come, with the socket's backpressure respected.
 *
 * Why not tRPC's own Node adapter (`@trpc/server/adapters/node-http`): it
 * builds the request's URL from the client's Host header, reads the body
 * without backpressure, and destroys the request when the body cap stops
 * reading it, so an oversized upload gets a reset instead of its 413. Here
 * only the path is taken from the request, a body declared within the cap is
 * read whole into one buffer (cheaper for the Fetch Request than a stream),
 * and a refused body is left for Node to discard after the answer. The
 * routing, context, body cap and batch limit are the one definition in
 * src/server/api/handler.ts (tRPC's public `fetchRequestHandler`); the e2e
 * limits tests hold these behaviours.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

import { env } from "~/env";
import { handleTrpcRequest, TRPC_ENDPOINT } from "~/server/api/handler";
import { headersOf } from "~/server/transport/node-headers";
import { logger } from "~/server/platform/logger";

const PREFIX = `${TRPC_ENDPOINT}/`;

export type NodeRequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The request body as a web stream that stops reading when cancelled (the
 * body cap refused it) without destroying the request: Node then discards
 * the rest after the response (413) is written, so the client reads its
 * answer instead of a reset connection. Nothing past the cap is kept.
 */
function bodyOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  let stop = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const onData = (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) req.pause();
      };
      const onEnd = () => {
        stop();
        controller.close();
      };
      const onError = (error: Error) => {
        stop();
        controller.error(error);
      };
      stop = () => {
        req.off("data", onData);
        req.off("end", onEnd);
        req.off("error", onError);
      };
      req.on("data", onData);
      req.on("end", onEnd);
      req.on("error", onError);
    },
    pull() {
      req.resume();
    },
    cancel() {
      stop();
    },
  });
}

type Body = Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;

/**
 * The request's body: read whole into a buffer when it declares its length
 * within the cap (what tRPC's client sends), which costs the Fetch Request
 * far less than a stream; anything else (chunked, or over the cap) as a
 * stream, for the cap to refuse without reading it.
 */
async function bodyOfRequest(req: IncomingMessage): Promise<Body> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (!(declared <= env.TRPC_MAX_BODY_BYTES)) return bodyOf(req);
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  return new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength);
}

/**
 * Whether the answer may be a stream that has to end when the client goes
 * away: a subscription (GET) or a batch the client reads as it comes. A plain
 * mutation's answer is one JSON document, and a client leaving does not stop
 * a mutation, so it gets no abort signal (each costs a transferable object).
 */
const mayStream = (req: IncomingMessage) => req.method === "GET" || req.headers["trpc-accept"] === "application/jsonl";

function requestOf(req: IncomingMessage, res: ServerResponse, body: Body | null): Request {
  let signal: AbortSignal | undefined;
  if (mayStream(req)) {
    // Aborts when the client goes away before the response is written, which ends a streamed
    // response (after a complete one there is nothing to abort, and aborting costs an exception object).
    const aborted = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort();
    });
    signal = aborted.signal;
  }
  // Only the path and query matter to tRPC: the client's Host header is not trusted to make a URL.
  return new Request(new URL(req.url ?? "/", "http://localhost"), {
    method: req.method,
    headers: headersOf(req.headers),
    ...(signal ? { signal } : {}),
    ...(body ? { body, duplex: "half" } : {}),
  });
}

/** Resolves when the response can take more, or is closed (no listener left behind either way). */
function writable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: Body | null = null;
  if (req.method !== "GET" && req.method !== "HEAD") {
    try {
      body = await bodyOfRequest(req);
    } catch {
      // The client went away mid-body: nobody to answer.
      return void res.destroy();
    }
  }
  const response = await handleTrpcRequest(requestOf(req, res, body));
  res.statusCode = response.status;
  for (const [name, value] of response.headers) if (name !== "set-cookie") res.setHeader(name, value);
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (!response.body) return void res.end();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await writable(res);
  }
  res.end();
}

/** Serves `/api/trpc/*` and returns true; anything else is left to Next (false). */
export function createTrpcNodeHandler(): NodeRequestHandler {
  return (req, res) => {
    if (!req.url?.startsWith(PREFIX)) return false;
    serve(req, res).catch((error: unknown) => {
      logger.error({ event: "trpc.http_failed", err: error }, "tRPC request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.destroy();
    });
    return true;
  };
}
