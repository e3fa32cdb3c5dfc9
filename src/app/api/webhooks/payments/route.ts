import { env } from "~/env";
import { db } from "~/server/db";
import { logger } from "~/server/logger";
import { MAX_WEBHOOK_BYTES, SIGNATURE_HEADER, handlePaymentWebhook } from "~/server/webhooks/payments";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function POST(req: Request) {
  const length = Number(req.headers.get("content-length") ?? 0);
  if (length > MAX_WEBHOOK_BYTES) {
    return Response.json({ error: "payload_too_large" }, { status: 413 });
  }
  // The signature covers the exact bytes sent, so read the raw text, not JSON.
  const rawBody = await req.text();
  if (Buffer.byteLength(rawBody) > MAX_WEBHOOK_BYTES) {
    return Response.json({ error: "payload_too_large" }, { status: 413 });
  }
  const result = await handlePaymentWebhook(
    db,
    env.PAYMENTS_WEBHOOK_SECRET,
    rawBody,
    req.headers.get(SIGNATURE_HEADER),
  );
  logger[result.status >= 400 ? "warn" : "info"](
    {
      event: "webhook.payments",
      status: result.status,
      ...("error" in result.body ? { error: result.body.error } : {}),
    },
    "payment webhook handled",
  );
  return Response.json(result.body, { status: result.status });
}
