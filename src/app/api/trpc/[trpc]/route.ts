import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import type { NextRequest } from "next/server";

import { appRouter } from "~/server/api/root";
import { createTRPCContext } from "~/server/api/trpc";

// Subscriptions hold the response open; never cache, never prerender.
export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const handler = (req: NextRequest) =>
  fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: () => createTRPCContext({ headers: req.headers }),
    // tRPC's SSE responses already carry `Cache-Control: no-cache, no-transform`
    // and `X-Accel-Buffering: no`, which keeps nginx from buffering the stream.
  });

export { handler as GET, handler as POST };
