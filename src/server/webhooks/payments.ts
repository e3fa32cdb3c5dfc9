/**
 * Payment-provider webhook: verify the HMAC-SHA256 signature over the raw
 * body, then publish payment.succeeded / payment.failed to the order's
 * organisation.
 *
 * Signature header: `X-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

import type { PrismaClient } from "~/generated/prisma/client";
import { bus } from "~/server/event-layer";
import { EventLayerError } from "~/server/events";

export const SIGNATURE_HEADER = "x-signature-256";
export const MAX_WEBHOOK_BYTES = 64 * 1024;

export function signPayload(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;
}

export function verifySignature(secret: string, rawBody: string | Buffer, header: string | null): boolean {
  if (!header) return false;
  const expected = Buffer.from(signPayload(secret, rawBody));
  const actual = Buffer.from(header.trim());
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

const paymentWebhookBody = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("payment.succeeded"),
    orderId: z.string().min(1).max(64),
    amount: z.number().int().nonnegative(),
    currency: z.string().regex(/^[A-Z]{3}$/),
    providerRef: z.string().min(1).max(128),
  }),
  z.object({
    type: z.literal("payment.failed"),
    orderId: z.string().min(1).max(64),
    errorCode: z.string().min(1).max(64),
  }),
]);

export type WebhookResult = { status: number; body: Record<string, unknown> };

export async function handlePaymentWebhook(
  db: PrismaClient,
  secret: string | undefined,
  rawBody: string,
  signatureHeader: string | null,
): Promise<WebhookResult> {
  if (!secret) {
    return { status: 503, body: { error: "webhook_not_configured", message: "set PAYMENTS_WEBHOOK_SECRET" } };
  }
  if (!verifySignature(secret, rawBody, signatureHeader)) {
    return {
      status: 401,
      body: { error: "invalid_signature", message: `missing or wrong ${SIGNATURE_HEADER} header` },
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return { status: 400, body: { error: "invalid_json", message: "the body is not JSON" } };
  }
  const parsed = paymentWebhookBody.safeParse(json);
  if (!parsed.success) {
    return { status: 400, body: { error: "invalid_body", message: z.prettifyError(parsed.error) } };
  }
  const order = await db.order.findUnique({
    where: { id: parsed.data.orderId },
    select: { id: true, organizationId: true },
  });
  if (!order) return { status: 404, body: { error: "unknown_order", message: "no such order" } };

  const target = { kind: "organization", organizationId: order.organizationId } as const;
  try {
    const event = parsed.data;
    const envelope =
      event.type === "payment.succeeded"
        ? await bus.emit(
            "payment.succeeded",
            { orderId: order.id, amount: event.amount, currency: event.currency, providerRef: event.providerRef },
            target,
          )
        : await bus.emit("payment.failed", { orderId: order.id, errorCode: event.errorCode }, target);
    return { status: 202, body: { accepted: true, eventId: envelope.id } };
  } catch (error) {
    if (error instanceof EventLayerError) {
      return { status: 400, body: { error: "invalid_event", message: error.message } };
    }
    throw error;
  }
}
