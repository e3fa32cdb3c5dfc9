import type { NextRequest } from "next/server";

import { handleTrpcRequest } from "~/server/api/handler";
import { maybeRuntime } from "~/server/runtime";
import { appStreamApi } from "~/server/runtime/runtime";

// Subscriptions hold the response open; never cache, never prerender.
export const dynamic = "force-dynamic";
export const runtime = "nodejs";

// Development: streams are served by the fast path with the router Next compiled last, so an edit
// to a router reaches new streams once Next reloads this route (any API call does). None at build time.
maybeRuntime()?.mountApi(appStreamApi());

const handler = (req: NextRequest) => handleTrpcRequest(req);

export { handler as GET, handler as POST };
