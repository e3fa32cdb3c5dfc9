/**
 * The transactional outbox on the real migrations (PGlite here; the same SQL
 * runs on PostgreSQL): events recorded with the change they describe,
 * published by the relay in commit order.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";

import { db } from "~/server/db";
import { getEventLayer } from "../helpers/runtime";
import { EventValidationError, type EventDraft } from "~/server/events";
import { emitInTransaction, OutboxRelay, withEvents } from "~/server/db/outbox";
import { changeOrderStatus, createOrder } from "~/server/domain/orders";
import { freshEventLayer, orgIdOf, sessionFor, setupDatabase, subscribe } from "./harness";

beforeAll(setupDatabase);
beforeEach(() => {
  freshEventLayer();
});

const unpublished = () => db.outboxEvent.count({ where: { publishedAt: null } });

describe("transactional outbox", () => {
  it("a transaction that rolls back records and publishes nothing", async () => {
    const alice = await sessionFor("alice@acme.test");
    const acme = await orgIdOf("acme");
    const sub = await subscribe(alice, { names: ["order.created"] });
    await sub.ready();
    const before = await db.outboxEvent.count();
    await expect(
      withEvents(db, async (tx, emit) => {
        const order = await tx.order.create({
          data: { organizationId: acme, createdById: alice.user.id, title: "Never", totalCents: 100, currency: "USD" },
        });
        await emit(
          "order.created",
          { orderId: order.id, title: order.title, total: 100, currency: "USD" },
          { kind: "organization", organizationId: acme },
        );
        throw new Error("the change failed after the emit");
      }),
    ).rejects.toThrow(/failed after the emit/);
    expect(await db.outboxEvent.count()).toBe(before);
    expect(await db.order.count({ where: { title: "Never" } })).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.events()).toEqual([]);
    await sub.close();
  });

  it("an event the catalog refuses throws before anything is written, and the change rolls back with it", async () => {
    const alice = await sessionFor("alice@acme.test");
    const acme = await orgIdOf("acme");
    await expect(
      withEvents(db, async (tx, emit) => {
        await tx.order.create({
          data: { organizationId: acme, createdById: alice.user.id, title: "Invalid", totalCents: 1, currency: "USD" },
        });
        // @ts-expect-error: a payload the catalog does not accept
        await emit("order.created", { orderId: "x" }, { kind: "organization", organizationId: acme });
      }),
    ).rejects.toBeInstanceOf(EventValidationError);
    expect(await db.order.count({ where: { title: "Invalid" } })).toBe(0);
  });

  it("the relay publishes committed rows in commit order, marks them, and picks up what was left", async () => {
    const alice = await sessionFor("alice@acme.test");
    const acme = await orgIdOf("acme");
    const sub = await subscribe(alice, { names: ["payment.failed"] });
    await sub.ready();
    // Committed, not yet published (as after a crash between commit and publish).
    const seqs: bigint[] = [];
    for (let i = 1; i <= 5; i++) {
      seqs.push(
        await db.$transaction((tx) =>
          emitInTransaction(
            tx,
            "payment.failed",
            { orderId: `left-${i}`, errorCode: "x" },
            { kind: "organization", organizationId: acme },
          ),
        ),
      );
    }
    expect(await unpublished()).toBe(5);
    const relay = new OutboxRelay(db, { pollMs: 0, keepPublishedMs: 60_000 });
    await relay.wake();
    expect(await unpublished()).toBe(0);
    await sub.waitFor((all) => all.filter((r) => r.event.name === "payment.failed").length >= 5, "5 events");
    expect(sub.events().map((r) => (r.event.data as { orderId: string }).orderId)).toEqual(
      [1, 2, 3, 4, 5].map((i) => `left-${i}`),
    );
    const rows = await db.outboxEvent.findMany({ where: { seq: { in: seqs } }, orderBy: { seq: "asc" } });
    // Subscribers see the stored ids sealed.
    const { cursors } = getEventLayer();
    expect(rows.map((r) => cursors.seal(r.eventId!))).toEqual(sub.events().map((r) => r.id));
    // Nothing is published twice.
    await relay.wake();
    await new Promise((r) => setTimeout(r, 100));
    expect(sub.events()).toHaveLength(5);
    await sub.close();
  });

  it("a crash between publishing and marking: the relay's retry gets the first id back, and subscribers get the event once", async () => {
    const alice = await sessionFor("alice@acme.test");
    const acme = await orgIdOf("acme");
    const sub = await subscribe(alice, { names: ["payment.failed"] });
    await sub.ready();
    const seq = await db.$transaction((tx) =>
      emitInTransaction(
        tx,
        "payment.failed",
        { orderId: "published-not-marked", errorCode: "x" },
        { kind: "organization", organizationId: acme },
      ),
    );
    // What the crashed relay did: published under the row's key, and died before marking the row.
    const row = await db.outboxEvent.findUniqueOrThrow({ where: { seq } });
    const first = await getEventLayer().bus.publish(row.draft as unknown as EventDraft, { key: `outbox:${seq}` });
    await sub.waitFor((all) => all.some((r) => r.event.name === "payment.failed"), "the first publish");
    await new OutboxRelay(db, { pollMs: 0, keepPublishedMs: 60_000 }).wake();
    expect(await db.outboxEvent.findUniqueOrThrow({ where: { seq } })).toMatchObject({ eventId: first.id });
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.events().map((r) => r.id)).toEqual([getEventLayer().cursors.seal(first.id)]);
    await sub.close();
  });

  it("concurrent status changes on one order reach subscribers in commit order, with increasing versions", async () => {
    const alice = await sessionFor("alice@acme.test");
    const acme = await orgIdOf("acme");
    const sub = await subscribe(alice, { names: ["order.created", "order.status.changed"] });
    await sub.ready();
    const order = await createOrder(db, {
      organizationId: acme,
      createdById: alice.user.id,
      title: "Raced",
      totalCents: 500,
      currency: "USD",
    });
    // Paid: an order is delivered only once paid.
    await db.order.update({ where: { id: order.id }, data: { paymentStatus: "PAID" } });
    // Each step raced by three callers: exactly one of each wins.
    let wins = 0;
    for (const to of ["IN_PROGRESS", "DELIVERED", "COMPLETED"] as const) {
      const results = await Promise.allSettled([1, 2, 3].map(() => changeOrderStatus(db, order.id, to)));
      wins += results.filter((r) => r.status === "fulfilled").length;
    }
    expect(wins).toBe(3);
    const final = await db.order.findUniqueOrThrow({ where: { id: order.id } });
    expect(final).toMatchObject({ status: "COMPLETED", version: 4 });
    await sub.waitFor((all) => all.filter((r) => r.event.name === "order.status.changed").length >= 3, "3 changes");
    const about = sub
      .events()
      .filter((r) => (r.event.data as { orderId: string }).orderId === order.id)
      .map((r) => r.event.data as { to?: string; orderVersion?: number });
    expect(about.map((d) => d.orderVersion)).toEqual([1, 2, 3, 4]);
    expect(about.slice(1).map((d) => d.to)).toEqual(["IN_PROGRESS", "DELIVERED", "COMPLETED"]);
    await sub.close();
  });
});
