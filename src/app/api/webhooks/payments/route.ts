import { env } from "~/env";
import { db } from "~/server/db";
import { expectedFailures } from "~/server/platform/log-throttle";
import { logger } from "~/server/platform/logger";
import { MAX_WEBHOOK_BYTES, SIGNATURE_HEADER, handlePaymentWebhook } from "~/server/domain/payments";
import { readBodyCapped } from "~/server/transport/body";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function POST(req: Request) {
  const tooLarge = () =>
    Response.json(
      { error: "payload_too_large", message: `the body is over ${MAX_WEBHOOK_BYTES} bytes` },
      { status: 413, headers: { connection: "close" } },
    );
  // The signature covers the exact bytes sent, so the raw bytes are kept, not JSON.
  const read = await readBodyCapped(req, MAX_WEBHOOK_BYTES);
  if (!read.ok) return tooLarge();
  const rawBody = read.body.toString("utf8");
  const result = await handlePaymentWebhook(
    db,
    env.PAYMENTS_WEBHOOK_SECRET,
    rawBody,
    req.headers.get(SIGNATURE_HEADER),
  );
  const fields = {
    event: "webhook.payments",
    status: result.status,
    ...("error" in result.body ? { error: result.body.error } : {}),
  };
  if (result.status < 400) logger.info(fields, "payment webhook handled");
  else {
    // Bad signatures and bodies are anyone's to send: once per kind per interval.
    const line = expectedFailures.take(`webhook:${result.status}`);
    if (line) logger.warn({ ...fields, ...line }, "payment webhook refused");
  }
  return Response.json(result.body, { status: result.status });
}
