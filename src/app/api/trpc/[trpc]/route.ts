import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import type { NextRequest } from "next/server";

import { env } from "~/env";
import { appRouter } from "~/server/api/root";
import { createTRPCContext } from "~/server/api/trpc";
import { withCappedBody } from "~/server/http/capped-request";

// Subscriptions hold the response open; never cache, never prerender.
export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const handler = (req: NextRequest) =>
  fetchRequestHandler({
    endpoint: "/api/trpc",
    req: withCappedBody(req, env.TRPC_MAX_BODY_BYTES),
    router: appRouter,
    // The page's batch link sends at most 10 per request (src/trpc/react.tsx).
    maxBatchSize: env.TRPC_MAX_BATCH_SIZE,
    createContext: () => createTRPCContext({ headers: req.headers }),
    // tRPC's SSE responses already carry `Cache-Control: no-cache, no-transform`
    // and `X-Accel-Buffering: no`, which keeps nginx from buffering the stream.
  });

export { handler as GET, handler as POST };
