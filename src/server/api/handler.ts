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

export const TRPC_ENDPOINT = "/api/trpc";

export function handleTrpcRequest(req: Request): Promise<Response> {
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
