/**
 * tRPC over HTTP, one definition for both ways a request arrives: Next's
 * route handler (`src/app/api/trpc/[trpc]/route.ts`, development and any
 * deployment without server.js) and the production server's direct path
 * (`src/server/http/trpc-node.ts`). Same router, context, body cap and batch
 * limit either way.
 */
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";

import { env } from "~/env";
import { appRouter } from "~/server/api/root";
import { createTRPCContext } from "~/server/api/trpc";
import { withCappedBody } from "~/server/http/capped-request";
import { crossSiteRefusal, type CrossSiteRefusal } from "~/server/http/same-origin";

export const TRPC_ENDPOINT = "/api/trpc";

export function handleTrpcRequest(req: Request): Promise<Response> {
  const refusal = crossSiteRefusal(req.method, req.headers);
  if (refusal) return Promise.resolve(refusedResponse(refusal));
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
function refusedResponse({ status, message }: CrossSiteRefusal): Response {
  const code = status === 403 ? "FORBIDDEN" : "UNSUPPORTED_MEDIA_TYPE";
  const body = {
    error: { json: { message, code: status === 403 ? -32003 : -32415, data: { code, httpStatus: status } } },
  };
  return Response.json(body, { status });
}
