import { beforeAll, beforeEach, describe, expect, it } from "vitest";

import { db } from "~/server/db";
import { releaseDueEscrows, ESCROW_HOLD_MS } from "~/server/domain/orders";
import { handlePaymentWebhook, signPayload } from "~/server/domain/payments";
import { getEventLayer } from "../helpers/runtime";
import { callerFor, demoSessions, freshEventLayer, sessionFor, setupDatabase, subscribe } from "./harness";

const secret = process.env.PAYMENTS_WEBHOOK_SECRET!;

beforeAll(setupDatabase);
beforeEach(() => {
  freshEventLayer();
});

describe("payments webhook", () => {
  it("verifies the signature and emits payment.succeeded to the order's organisation only", async () => {
    const [alice, carol] = await Promise.all([sessionFor("alice@acme.test"), sessionFor("carol@globex.test")]);
    const order = await callerFor(alice).order.create({ title: "Paid order", totalCents: 4_200, currency: "USD" });
    const acme = await subscribe(alice, { names: ["payment.succeeded", "payment.failed"] });
    const globex = await subscribe(carol, { names: ["payment.succeeded", "payment.failed"] });
    await Promise.all([acme.ready(), globex.ready()]);

    const body = JSON.stringify({
      id: `evt_${order.id}_paid`,
      type: "payment.succeeded",
      orderId: order.id,
      amount: 4_200,
      currency: "USD",
      providerRef: "pi_123",
    });
    const result = await handlePaymentWebhook(db, secret, body, signPayload(secret, body));
    expect(result).toMatchObject({ status: 202, body: { accepted: true } });
    await acme.waitForName("payment.succeeded");
    expect(acme.events()[0]!.event.data).toEqual({
      orderId: order.id,
      amount: 4_200,
      currency: "USD",
      providerRef: "pi_123",
      displayAmount: "$42.00",
      // The order's version after the payment (created at 1): lists patch it in place (src/trpc/live-bindings.ts).
      orderVersion: 2,
    });

    const failed = JSON.stringify({
      id: `evt_${order.id}_failed`,
      type: "payment.failed",
      orderId: order.id,
      errorCode: "card_declined",
    });
    expect((await handlePaymentWebhook(db, secret, failed, signPayload(secret, failed))).status).toBe(202);
    await acme.waitForName("payment.failed");
    expect(globex.events()).toEqual([]);
    await Promise.all([acme.close(), globex.close()]);
  });

  it("rejects missing or bad signatures with 401 and invalid bodies with 400, emitting nothing", async () => {
    const alice = await sessionFor("alice@acme.test");
    const order = await callerFor(alice).order.create({ title: "Unpaid", totalCents: 100 });
    const emittedBefore = (await getEventLayer().bus.stats()).emitted;
    const body = JSON.stringify({ id: "evt_x", type: "payment.failed", orderId: order.id, errorCode: "x" });
    expect((await handlePaymentWebhook(db, secret, body, null)).status).toBe(401);
    expect((await handlePaymentWebhook(db, secret, body, signPayload("wrong-secret-wrong", body))).status).toBe(401);
    expect((await handlePaymentWebhook(db, secret, `${body}\n`, signPayload(secret, body))).status).toBe(401);
    const notJson = "{oops";
    expect((await handlePaymentWebhook(db, secret, notJson, signPayload(secret, notJson))).status).toBe(400);
    const badType = JSON.stringify({ id: "evt_y", type: "payment.refunded", orderId: order.id });
    expect((await handlePaymentWebhook(db, secret, badType, signPayload(secret, badType))).status).toBe(400);
    const unknownOrder = JSON.stringify({ id: "evt_z", type: "payment.failed", orderId: "nope", errorCode: "x" });
    expect((await handlePaymentWebhook(db, secret, unknownOrder, signPayload(secret, unknownOrder))).status).toBe(404);
    expect((await handlePaymentWebhook(db, undefined, body, signPayload(secret, body))).status).toBe(503);
    expect((await getEventLayer().bus.stats()).emitted).toBe(emittedBefore);
  });
});

describe("payments webhook: deliveries, amounts, state", () => {
  it("a repeated delivery answers with the first result and emits nothing; the payment is recorded on the order", async () => {
    const alice = await sessionFor("alice@acme.test");
    const order = await callerFor(alice).order.create({ title: "Once", totalCents: 900, currency: "EUR" });
    const acme = await subscribe(alice, { names: ["payment.succeeded"] });
    await acme.ready();
    const body = JSON.stringify({
      id: `evt_${order.id}`,
      type: "payment.succeeded",
      orderId: order.id,
      amount: 900,
      currency: "EUR",
      providerRef: "pi_once",
    });
    const first = await handlePaymentWebhook(db, secret, body, signPayload(secret, body));
    const again = await handlePaymentWebhook(db, secret, body, signPayload(secret, body));
    const concurrent = await Promise.all(
      [1, 2].map(() => handlePaymentWebhook(db, secret, body, signPayload(secret, body))),
    );
    expect(first).toMatchObject({ status: 202, body: { accepted: true } });
    for (const repeat of [again, ...concurrent]) {
      expect(repeat.status).toBe(202);
      expect(repeat.body).toMatchObject({ eventId: first.body.eventId, duplicate: true });
    }
    await acme.waitForName("payment.succeeded");
    await new Promise((r) => setTimeout(r, 100));
    expect(acme.events()).toHaveLength(1);
    expect(await db.order.findUniqueOrThrow({ where: { id: order.id } })).toMatchObject({
      paymentStatus: "PAID",
      paymentRef: "pi_once",
    });
    await acme.close();
  });

  it("a payment whose amount or currency differs from the order is refused with 422 and changes nothing", async () => {
    const alice = await sessionFor("alice@acme.test");
    const order = await callerFor(alice).order.create({ title: "Exact", totalCents: 500, currency: "USD" });
    const emittedBefore = (await getEventLayer().bus.stats()).emitted;
    for (const [amount, currency] of [
      [499, "USD"],
      [500, "EUR"],
    ] as const) {
      const body = JSON.stringify({
        id: `evt_${order.id}_${amount}_${currency}`,
        type: "payment.succeeded",
        orderId: order.id,
        amount,
        currency,
        providerRef: "pi_x",
      });
      expect(await handlePaymentWebhook(db, secret, body, signPayload(secret, body))).toMatchObject({
        status: 422,
        body: { error: "amount_mismatch" },
      });
    }
    expect((await getEventLayer().bus.stats()).emitted).toBe(emittedBefore);
    expect((await db.order.findUniqueOrThrow({ where: { id: order.id } })).paymentStatus).toBe("UNPAID");
  });

  it("a delivery refused for a business reason is recorded: its verbatim replay gets the same answer without work", async () => {
    const alice = await sessionFor("alice@acme.test");
    const order = await callerFor(alice).order.create({ title: "Refused", totalCents: 500, currency: "USD" });
    const body = JSON.stringify({
      id: `evt_refused_${order.id}`,
      type: "payment.succeeded",
      orderId: order.id,
      amount: 1,
      currency: "USD",
      providerRef: "pi_refused",
    });
    const first = await handlePaymentWebhook(db, secret, body, signPayload(secret, body));
    expect(first).toMatchObject({ status: 422, body: { error: "amount_mismatch" } });
    expect(await db.paymentWebhookDelivery.findUnique({ where: { id: `evt_refused_${order.id}` } })).toMatchObject({
      status: 422,
    });
    // Replayed verbatim: the recorded answer, without reading the order again.
    await db.order.update({ where: { id: order.id }, data: { totalCents: 1 } });
    const replay = await handlePaymentWebhook(db, secret, body, signPayload(secret, body));
    expect(replay).toMatchObject({ status: 422, body: { error: "amount_mismatch", duplicate: true } });
    expect((await db.order.findUniqueOrThrow({ where: { id: order.id } })).paymentStatus).toBe("UNPAID");
    const unknown = JSON.stringify({
      id: "evt_unknown_order",
      type: "payment.failed",
      orderId: "nope",
      errorCode: "x",
    });
    await handlePaymentWebhook(db, secret, unknown, signPayload(secret, unknown));
    expect(await handlePaymentWebhook(db, secret, unknown, signPayload(secret, unknown))).toMatchObject({
      status: 404,
      body: { duplicate: true },
    });
  });
});

describe("background job", () => {
  it("releases escrow outside any request and emits escrow.released and the status change", async () => {
    const alice = await sessionFor("alice@acme.test");
    const api = callerFor(alice);
    const order = await api.order.create({ title: "Escrowed", totalCents: 10_000, currency: "USD" });
    await api.order.updateStatus({ orderId: order.id, to: "IN_PROGRESS" });
    await api.order.payDemo({ orderId: order.id });
    await api.order.updateStatus({ orderId: order.id, to: "DELIVERED" });
    const sub = await subscribe(alice, { names: ["escrow.released", "order.status.changed"] });
    await sub.ready();

    expect(await releaseDueEscrows(db)).toBe(0); // hold not over yet
    const later = new Date(Date.now() + ESCROW_HOLD_MS + 1_000);
    expect(await releaseDueEscrows(db, later)).toBeGreaterThanOrEqual(1);
    expect(await releaseDueEscrows(db, later)).toBe(0); // exactly once
    await sub.waitForName("order.status.changed");
    const mine = sub.events().filter((r) => "orderId" in r.event.data && r.event.data.orderId === order.id);
    expect(mine.map((r) => r.event)).toMatchObject([
      { name: "escrow.released", data: { amount: 10_000, displayAmount: "$100.00" } },
      { name: "order.status.changed", data: { orderId: order.id, from: "DELIVERED", to: "COMPLETED" } },
    ]);
    expect((await db.order.findUniqueOrThrow({ where: { id: order.id } })).status).toBe("COMPLETED");
    await sub.close();
  });

  it("an unpaid order is never delivered nor released; who moves an order is enforced", async () => {
    const { alice, bob } = await demoSessions();
    const order = await callerFor(bob).order.create({ title: "Unpaid", totalCents: 700 });
    await callerFor(bob).order.updateStatus({ orderId: order.id, to: "IN_PROGRESS" });
    const emitted = (await getEventLayer().bus.stats()).emitted;
    // Before the fix, bob delivered it unpaid and the escrow job completed it.
    const refusal = callerFor(bob).order.updateStatus({ orderId: order.id, to: "DELIVERED" });
    await expect(refusal).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(refusal).rejects.toThrow(/paid/);
    // Even if the database says DELIVERED (written by hand, or by an older version), escrow waits for payment.
    await db.order.update({ where: { id: order.id }, data: { status: "DELIVERED", escrowReleaseAt: new Date(0) } });
    await releaseDueEscrows(db, new Date(Date.now() + ESCROW_HOLD_MS + 1_000));
    expect(await db.order.findUniqueOrThrow({ where: { id: order.id } })).toMatchObject({
      status: "DELIVERED",
      escrowReleasedAt: null,
    });
    expect((await getEventLayer().bus.stats()).emitted).toBe(emitted);
    // A member cannot cancel; the organisation's administrator can.
    const other = await callerFor(bob).order.create({ title: "To cancel", totalCents: 100 });
    await expect(callerFor(bob).order.updateStatus({ orderId: other.id, to: "CANCELLED" })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await callerFor(alice).order.updateStatus({ orderId: other.id, to: "CANCELLED" });
    // Nobody completes an order by hand: escrow does.
    const paid = await callerFor(alice).order.create({ title: "Paid", totalCents: 100 });
    await callerFor(alice).order.updateStatus({ orderId: paid.id, to: "IN_PROGRESS" });
    await callerFor(alice).order.payDemo({ orderId: paid.id });
    await callerFor(alice).order.updateStatus({ orderId: paid.id, to: "DELIVERED" });
    await expect(callerFor(alice).order.updateStatus({ orderId: paid.id, to: "COMPLETED" })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
  });

  it("refuses an invalid status transition with CONFLICT and emits nothing", async () => {
    const alice = await sessionFor("alice@acme.test");
    const order = await callerFor(alice).order.create({ title: "Fresh", totalCents: 1 });
    const emitted = (await getEventLayer().bus.stats()).emitted;
    await expect(callerFor(alice).order.updateStatus({ orderId: order.id, to: "COMPLETED" })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    expect((await getEventLayer().bus.stats()).emitted).toBe(emitted);
  });
});
