/**
 * Prometheus scrape endpoint. Off unless METRICS_TOKEN is set; then it needs
 * `Authorization: Bearer <METRICS_TOKEN>` (figures such as stream counts are
 * not for the public).
 */
import { createHash, timingSafeEqual } from "node:crypto";

import { env } from "~/env";
import { runtime } from "~/server/runtime";

export const dynamic = "force-dynamic";

const digest = (value: string) => createHash("sha256").update(value).digest();

export async function GET(request: Request): Promise<Response> {
  const token = env.METRICS_TOKEN;
  if (!token) return new Response("Not found\n", { status: 404 });
  const header = request.headers.get("authorization") ?? "";
  const presented = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
  // Compared as digests: constant time, whatever the lengths.
  if (!timingSafeEqual(digest(presented), digest(token))) {
    return new Response("Unauthorized\n", { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="metrics"' } });
  }
  const registry = runtime().metrics;
  return new Response(await registry.metrics(), {
    headers: { "Content-Type": registry.contentType, "Cache-Control": "no-store" },
  });
}
