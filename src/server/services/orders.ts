/**
 * The demo order domain. Every state change is written first and emitted to
 * the order's organisation after the write succeeded, so subscribers never
 * hear of a change the database does not have.
 */
import type { PrismaClient } from "~/generated/prisma/client";
import type { OrderStatus } from "~/generated/prisma/enums";
import { bus } from "~/server/event-layer";

export const ESCROW_HOLD_MS = 10_000;

const transitions: Record<OrderStatus, readonly OrderStatus[]> = {
  CREATED: ["IN_PROGRESS", "CANCELLED"],
  IN_PROGRESS: ["DELIVERED", "CANCELLED"],
  DELIVERED: ["COMPLETED"],
  COMPLETED: [],
  CANCELLED: [],
};

export class OrderTransitionError extends Error {}

export async function createOrder(
  db: PrismaClient,
  input: { organizationId: string; createdById: string; title: string; totalCents: number; currency: string },
) {
  const order = await db.order.create({ data: input });
  await bus.emit(
    "order.created",
    { orderId: order.id, title: order.title, total: order.totalCents, currency: order.currency },
    { kind: "organization", organizationId: order.organizationId },
  );
  return order;
}

export async function changeOrderStatus(db: PrismaClient, orderId: string, to: OrderStatus) {
  const order = await db.order.findUniqueOrThrow({ where: { id: orderId } });
  if (!transitions[order.status].includes(to)) {
    throw new OrderTransitionError(`an order in ${order.status} cannot move to ${to}`);
  }
  // Conditional update: a concurrent change makes this one fail instead of emitting twice.
  const updated = await db.order.updateMany({
    where: { id: orderId, status: order.status },
    data: { status: to, escrowReleaseAt: to === "DELIVERED" ? new Date(Date.now() + ESCROW_HOLD_MS) : undefined },
  });
  if (updated.count === 0) throw new OrderTransitionError("the order changed meanwhile; reload and retry");
  await bus.emit(
    "order.status.changed",
    { orderId, from: order.status, to },
    { kind: "organization", organizationId: order.organizationId },
  );
  return { ...order, status: to };
}

/** Releases escrow for delivered orders whose hold expired. Returns how many. */
export async function releaseDueEscrows(db: PrismaClient, now = new Date()): Promise<number> {
  const due = await db.order.findMany({
    where: { status: "DELIVERED", escrowReleasedAt: null, escrowReleaseAt: { lte: now } },
    take: 100,
  });
  let released = 0;
  for (const order of due) {
    const claimed = await db.order.updateMany({
      where: { id: order.id, status: "DELIVERED", escrowReleasedAt: null },
      data: { escrowReleasedAt: now, status: "COMPLETED" },
    });
    if (claimed.count === 0) continue; // another worker took it
    const target = { kind: "organization", organizationId: order.organizationId } as const;
    await bus.emit(
      "escrow.released",
      { orderId: order.id, milestoneId: `${order.id}:final`, amount: order.totalCents, currency: order.currency },
      target,
    );
    await bus.emit("order.status.changed", { orderId: order.id, from: "DELIVERED", to: "COMPLETED" }, target);
    released++;
  }
  return released;
}
