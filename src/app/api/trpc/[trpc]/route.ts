import type { NextRequest } from "next/server";

import { handleTrpcRequest } from "~/server/api/handler";

// Subscriptions hold the response open; never cache, never prerender.
export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const handler = (req: NextRequest) => handleTrpcRequest(req);

export { handler as GET, handler as POST };
