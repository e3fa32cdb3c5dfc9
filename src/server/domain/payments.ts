/**
 * Payment-provider webhook, signed the way payment providers sign theirs.
 *
 *   X-Signature-256: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=…]
 *
 * The timestamp must be within five minutes of now (a captured delivery
 * cannot be replayed later), any `v1` may match any configured secret (so a
 * secret can be rotated: `PAYMENTS_WEBHOOK_SECRET=new,old`), and the check
 * runs on the raw bytes before any JSON parsing. Each delivery carries the
 * provider's event `id`: a repeat answers with the first result and emits
 * nothing. A payment must match the order's amount and currency; its state
 * is recorded on the order.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

import type { Prisma, PrismaClient } from "~/generated/prisma/client";
import { EventLayerError } from "~/server/events";
import { logger } from "~/server/platform/logger";
import { publishedEventId, withEvents } from "~/server/db/outbox";

export const SIGNATURE_HEADER = "x-signature-256";
export const MAX_WEBHOOK_BYTES = 64 * 1024;
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

const hmac = (secret: string, timestamp: number, rawBody: string | Buffer) =>
  createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");

/** The header a provider would send for this body (tests, and the README's curl example). */
export function signPayload(
  secret: string,
  rawBody: string | Buffer,
  timestamp = Math.floor(Date.now() / 1000),
): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, rawBody)}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: "missing" | "malformed" | "stale" | "mismatch" };

/** Checks a signature header against one or more secrets (comma-separated while rotating). */
export function verifySignature(
  secrets: string,
  rawBody: string | Buffer,
  header: string | null,
  now = Date.now(),
): SignatureCheck {
  if (!header) return { ok: false, reason: "missing" };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const [key, value] = part.trim().split("=", 2);
    if (key === "t" && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && value && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0 || signatures.length > 8) {
    return { ok: false, reason: "malformed" };
  }
  if (Math.abs(now / 1000 - timestamp) > SIGNATURE_TOLERANCE_SECONDS) return { ok: false, reason: "stale" };
  for (const secret of secrets
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const expected = Buffer.from(hmac(secret, timestamp, rawBody), "hex");
    if (signatures.some((signature) => timingSafeEqual(Buffer.from(signature, "hex"), expected))) return { ok: true };
  }
  return { ok: false, reason: "mismatch" };
}

const deliveryId = z.string().min(1).max(128);
const paymentWebhookBody = z.discriminatedUnion("type", [
  z.object({
    id: deliveryId,
    type: z.literal("payment.succeeded"),
    orderId: z.string().min(1).max(64),
    amount: z.number().int().nonnegative(),
    currency: z.string().regex(/^[A-Z]{3}$/),
    providerRef: z.string().min(1).max(128),
  }),
  z.object({
    id: deliveryId,
    type: z.literal("payment.failed"),
    orderId: z.string().min(1).max(64),
    errorCode: z.string().min(1).max(64),
  }),
]);

export type WebhookResult = { status: number; body: Record<string, unknown> };

const signatureMessages: Record<Exclude<SignatureCheck, { ok: true }>["reason"], string> = {
  missing: `missing ${SIGNATURE_HEADER} header`,
  malformed: `${SIGNATURE_HEADER} must be "t=<unix seconds>,v1=<hex hmac>"`,
  stale: `the signature's timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s from now`,
  mismatch: "the signature does not match",
};

export async function handlePaymentWebhook(
  db: PrismaClient,
  secret: string | undefined,
  rawBody: string,
  signatureHeader: string | null,
  now = Date.now(),
): Promise<WebhookResult> {
  if (!secret) {
    return { status: 503, body: { error: "webhook_not_configured", message: "set PAYMENTS_WEBHOOK_SECRET" } };
  }
  const signature = verifySignature(secret, rawBody, signatureHeader, now);
  if (!signature.ok) {
    return { status: 401, body: { error: "invalid_signature", message: signatureMessages[signature.reason] } };
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
  return applyPayment(db, parsed.data);
}

export type PaymentDelivery = z.infer<typeof paymentWebhookBody>;

/**
 * Applies one verified delivery from the payment provider, once: a repeat of
 * its id (a retry, or a replayed capture) gets the first answer, refusals
 * included, and changes nothing.
 */
export async function applyPayment(db: PrismaClient, event: PaymentDelivery): Promise<WebhookResult> {
  const earlier = await db.paymentWebhookDelivery.findUnique({ where: { id: event.id } });
  if (earlier) return repeat(earlier);

  const order = await db.order.findUnique({
    where: { id: event.orderId },
    select: { id: true, organizationId: true, totalCents: true, currency: true },
  });
  if (!order) return refuse(db, event, { status: 404, body: { error: "unknown_order", message: "no such order" } });
  if (event.type === "payment.succeeded" && (event.amount !== order.totalCents || event.currency !== order.currency)) {
    logger.warn(
      { event: "webhook.payments.mismatch", deliveryId: event.id, orderId: order.id },
      "payment does not match the order",
    );
    return refuse(db, event, {
      status: 422,
      body: { error: "amount_mismatch", message: "the payment's amount or currency does not match the order" },
    });
  }

  // The delivery is claimed, the order updated and the event recorded together
  // (the outbox); a concurrent repeat fails on the delivery's primary key and
  // gets the first answer.
  const target = { kind: "organization", organizationId: order.organizationId } as const;
  let result: WebhookResult;
  try {
    const seq = await withEvents(db, async (tx, emit) => {
      await tx.paymentWebhookDelivery.create({ data: { id: event.id, orderId: order.id, type: event.type } });
      const { version } = await tx.order.update({
        where: { id: order.id },
        data: {
          version: { increment: 1 },
          ...(event.type === "payment.succeeded"
            ? { paymentStatus: "PAID", paymentRef: event.providerRef }
            : { paymentStatus: "FAILED" }),
        },
      });
      return event.type === "payment.succeeded"
        ? emit(
            "payment.succeeded",
            {
              orderId: order.id,
              amount: event.amount,
              currency: event.currency,
              providerRef: event.providerRef,
              orderVersion: version,
            },
            target,
          )
        : emit("payment.failed", { orderId: order.id, errorCode: event.errorCode, orderVersion: version }, target);
    });
    result = { status: 202, body: { accepted: true, eventId: await publishedEventId(db, seq) } };
  } catch (error) {
    if (error instanceof EventLayerError) {
      return { status: 400, body: { error: "invalid_event", message: error.message } };
    }
    const first = await db.paymentWebhookDelivery.findUnique({ where: { id: event.id } });
    if (first) return repeat(first);
    throw error;
  }
  await db.paymentWebhookDelivery.update({
    where: { id: event.id },
    data: { status: result.status, response: result.body as Prisma.InputJsonObject },
  });
  return result;
}

/** Records a delivery refused for a business reason, so its verbatim replay gets the same answer without work. */
async function refuse(db: PrismaClient, event: PaymentDelivery, result: WebhookResult): Promise<WebhookResult> {
  try {
    await db.paymentWebhookDelivery.create({
      data: {
        id: event.id,
        orderId: event.orderId,
        type: event.type,
        status: result.status,
        response: result.body as Prisma.InputJsonObject,
      },
    });
  } catch (error) {
    // A concurrent copy recorded it first: its answer stands.
    const first = await db.paymentWebhookDelivery.findUnique({ where: { id: event.id } });
    if (first) return repeat(first);
    throw error;
  }
  return result;
}

/** A delivery seen before: its first answer, marked as a repeat. */
function repeat(earlier: { status: number | null; response: unknown }): WebhookResult {
  const body = (earlier.response ?? { accepted: true }) as Record<string, unknown>;
  return { status: earlier.status ?? 202, body: { ...body, duplicate: true } };
}
