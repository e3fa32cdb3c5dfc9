/**
 * The demo order domain. Every state change and its event are one
 * transaction (the outbox, src/server/outbox.ts): subscribers never hear of
 * a change the database does not have, and no committed change loses its
 * event. Each change moves the order's version on; its events carry it.
 */
import type { PrismaClient } from "~/generated/prisma/client";
import type { OrderStatus } from "~/generated/prisma/enums";
import { withEvents } from "~/server/db/outbox";

export const ESCROW_HOLD_MS = 10_000;

const transitions: Record<OrderStatus, readonly OrderStatus[]> = {
  CREATED: ["IN_PROGRESS", "CANCELLED"],
  IN_PROGRESS: ["DELIVERED", "CANCELLED"],
  DELIVERED: ["COMPLETED"],
  COMPLETED: [],
  CANCELLED: [],
};

/**
 * Who moves an order: a member of its organisation starts work and delivers
 * (once the order is paid); only the organisation's administrator cancels;
 * only the escrow job completes, once the hold after a paid delivery is over.
 */
export type OrderActor = "member" | "admin" | "system";
const movedBy: Record<OrderStatus, readonly OrderActor[]> = {
  CREATED: [],
  IN_PROGRESS: ["member", "admin", "system"],
  DELIVERED: ["member", "admin", "system"],
  CANCELLED: ["admin", "system"],
  COMPLETED: ["system"],
};

/** A move the order's state does not allow (CONFLICT). */
export class OrderTransitionError extends Error {}
/** A move the actor may not make (FORBIDDEN). */
export class OrderPermissionError extends Error {}

export async function createOrder(
  db: PrismaClient,
  input: { organizationId: string; createdById: string; title: string; totalCents: number; currency: string },
) {
  return withEvents(db, async (tx, emit) => {
    const order = await tx.order.create({ data: input });
    await emit(
      "order.created",
      {
        orderId: order.id,
        title: order.title,
        total: order.totalCents,
        currency: order.currency,
        orderVersion: order.version,
        organizationId: order.organizationId,
        createdAt: order.createdAt.toISOString(),
      },
      { kind: "organization", organizationId: order.organizationId },
    );
    return order;
  });
}

export async function changeOrderStatus(db: PrismaClient, orderId: string, to: OrderStatus, by: OrderActor = "system") {
  return withEvents(db, async (tx, emit) => {
    const order = await tx.order.findUniqueOrThrow({ where: { id: orderId } });
    if (!transitions[order.status].includes(to)) {
      throw new OrderTransitionError(`an order in ${order.status} cannot move to ${to}`);
    }
    if (!movedBy[to].includes(by)) {
      throw new OrderPermissionError(
        to === "COMPLETED"
          ? "orders complete when their escrow is released"
          : `only the organisation's administrator can move an order to ${to}`,
      );
    }
    if (to === "DELIVERED" && order.paymentStatus !== "PAID") {
      throw new OrderTransitionError("an order can only be delivered once it is paid");
    }
    // Conditional on the version read: a concurrent change makes this one fail instead of emitting twice.
    const updated = await tx.order.updateMany({
      where: { id: orderId, version: order.version },
      data: {
        status: to,
        version: { increment: 1 },
        escrowReleaseAt: to === "DELIVERED" ? new Date(Date.now() + ESCROW_HOLD_MS) : undefined,
      },
    });
    if (updated.count === 0) throw new OrderTransitionError("the order changed meanwhile; reload and retry");
    await emit(
      "order.status.changed",
      { orderId, from: order.status, to, orderVersion: order.version + 1 },
      { kind: "organization", organizationId: order.organizationId },
    );
    return { ...order, status: to, version: order.version + 1 };
  });
}

/** Releases escrow for paid, delivered orders whose hold expired. Returns how many. */
export async function releaseDueEscrows(db: PrismaClient, now = new Date()): Promise<number> {
  const due = await db.order.findMany({
    where: { status: "DELIVERED", paymentStatus: "PAID", escrowReleasedAt: null, escrowReleaseAt: { lte: now } },
    take: 100,
  });
  let released = 0;
  for (const order of due) {
    const claimed = await withEvents(db, async (tx, emit) => {
      const claim = await tx.order.updateMany({
        where: { id: order.id, status: "DELIVERED", paymentStatus: "PAID", escrowReleasedAt: null },
        data: { escrowReleasedAt: now, status: "COMPLETED", version: { increment: 1 } },
      });
      if (claim.count === 0) return false; // another worker took it
      const target = { kind: "organization", organizationId: order.organizationId } as const;
      await emit(
        "escrow.released",
        { orderId: order.id, milestoneId: `${order.id}:final`, amount: order.totalCents, currency: order.currency },
        target,
      );
      await emit(
        "order.status.changed",
        { orderId: order.id, from: "DELIVERED", to: "COMPLETED", orderVersion: order.version + 1 },
        target,
      );
      return true;
    });
    if (claimed) released++;
  }
  return released;
}
