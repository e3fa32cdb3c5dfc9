/**
 * tRPC over HTTP, one definition for both ways a request arrives: Next's
 * route handler (`src/app/api/trpc/[trpc]/route.ts`, development and any
 * deployment without server.ts) and the production server's direct path
 * (`src/server/http/trpc-node.ts`). Same router, context, body cap and batch
 * limit either way.
 */
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";

import { env } from "~/env";
import { appRouter, streamProcedures } from "~/server/api/root";
import { createTRPCContext } from "~/server/api/trpc";
import { withCappedBody } from "~/server/transport/body";
import { crossSiteRefusal, type CrossSiteRefusal } from "~/server/transport/same-origin";
import { asksForStockStream, namesStreamProcedure, STOCK_TRANSPORT_HEADER } from "~/server/transport/stream-request";

export const TRPC_ENDPOINT = "/api/trpc";

/**
 * However the request spelled the path, a stream that reached tRPC's own
 * handler has none of the fast path's bounds (backlog, stall, paced drain):
 * refused, unless allowed for comparisons and asked for.
 */
const streamRefusal: Refusal = {
  status: 400,
  message: "streams are served at GET /api/trpc/events.onEvent, one per request (not batched)",
};

export function handleTrpcRequest(req: Request): Promise<Response> {
  const refusal = crossSiteRefusal(req.method, req.headers);
  if (refusal) return Promise.resolve(refusedResponse(refusal));
  const url = new URL(req.url);
  if (
    namesStreamProcedure(url.pathname, streamProcedures) &&
    !(env.EVENTS_ALLOW_STOCK_SSE && asksForStockStream(req.headers.get(STOCK_TRANSPORT_HEADER)))
  ) {
    return Promise.resolve(refusedResponse(streamRefusal));
  }
  return fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req: withCappedBody(req, env.TRPC_MAX_BODY_BYTES),
    router: appRouter,
    // The page's batch link sends at most 10 per request (src/trpc/react.tsx).
    maxBatchSize: env.TRPC_MAX_BATCH_SIZE,
    createContext: () => createTRPCContext({ headers: req.headers }),
    // tRPC's SSE responses already carry `Cache-Control: no-cache, no-transform`
    // and `X-Accel-Buffering: no`, which keeps nginx from buffering the stream.
  });
}

/** A refusal in tRPC's error shape, so tRPC's client reports it as a TRPCClientError. */
type Refusal = { status: CrossSiteRefusal["status"] | 400; message: string };

function refusedResponse({ status, message }: Refusal): Response {
  const [code, number] = (
    { 400: ["BAD_REQUEST", -32600], 403: ["FORBIDDEN", -32003], 415: ["UNSUPPORTED_MEDIA_TYPE", -32415] } as const
  )[status];
  const body = { error: { json: { message, code: number, data: { code, httpStatus: status } } } };
  return Response.json(body, { status });
}
