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
    responseMeta({ type }) {
      // Proxies such as nginx buffer responses unless told not to; a buffered
      // event stream arrives in bursts or not at all.
      return type === "subscription"
        ? { headers: { "X-Accel-Buffering": "no", "Cache-Control": "no-cache, no-transform" } }
        : {};
    },
  });

export { handler as GET, handler as POST };
