import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { createTRPCRouter, emittingProcedure, protectedProcedure } from "~/server/api/trpc";
import { ORDER_LIST_LIMIT, orderListOrder } from "~/server/domain/order-list";
import { orderStatuses } from "~/server/domain/order-status";
import { administersAny } from "~/server/auth/access";
import { demoLoginEnabled } from "~/server/auth/config";
import { OrderPermissionError, OrderTransitionError, changeOrderStatus, createOrder } from "~/server/domain/orders";
import { applyPayment } from "~/server/domain/payments";

/** What a list shows of an order: every field an event about it can keep current. */
const listed = {
  id: true,
  organizationId: true,
  title: true,
  totalCents: true,
  currency: true,
  status: true,
  paymentStatus: true,
  version: true,
  createdAt: true,
} as const;

export const orderRouter = createTRPCRouter({
  /** The newest orders of my organisations, or of one of them, or in one status. Kept live by bindings. */
  list: protectedProcedure
    .input(
      z.object({ organizationId: z.string().max(64).optional(), status: z.enum(orderStatuses).optional() }).optional(),
    )
    .query(async ({ ctx, input }) => {
      const orgIds = [...ctx.entitlements.organizationIds];
      const organizationIds = input?.organizationId ? orgIds.filter((id) => id === input.organizationId) : orgIds;
      return ctx.db.order.findMany({
        where: { organizationId: { in: organizationIds }, ...(input?.status ? { status: input.status } : {}) },
        orderBy: [...orderListOrder],
        take: ORDER_LIST_LIMIT,
        select: listed,
      });
    }),

  create: emittingProcedure
    .input(
      z.object({
        title: z.string().trim().min(1).max(200),
        totalCents: z.number().int().positive().max(1_000_000_000),
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/)
          .default("USD"),
        organizationId: z.string().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const orgIds = [...ctx.entitlements.organizationIds];
      const organizationId = input.organizationId ?? orgIds[0];
      if (!organizationId || !orgIds.includes(organizationId)) {
        throw new TRPCError({ code: "FORBIDDEN", message: "you can only create orders in your own organisation" });
      }
      return createOrder(ctx.db, {
        organizationId,
        createdById: ctx.session.user.id,
        title: input.title,
        totalCents: input.totalCents,
        currency: input.currency,
      });
    }),

  updateStatus: emittingProcedure
    .input(z.object({ orderId: z.string().min(1), to: z.enum(orderStatuses) }))
    .mutation(async ({ ctx, input }) => {
      const orgIds = [...ctx.entitlements.organizationIds];
      const order = await ctx.db.order.findFirst({ where: { id: input.orderId, organizationId: { in: orgIds } } });
      if (!order) throw new TRPCError({ code: "NOT_FOUND", message: "no such order in your organisation" });
      const by = administersAny(ctx.adminScope, [order.organizationId]) ? "admin" : "member";
      try {
        return await changeOrderStatus(ctx.db, order.id, input.to, by);
      } catch (error) {
        if (error instanceof OrderTransitionError) {
          throw new TRPCError({ code: "CONFLICT", message: error.message });
        }
        if (error instanceof OrderPermissionError) {
          throw new TRPCError({ code: "FORBIDDEN", message: error.message });
        }
        throw error;
      }
    }),

  /**
   * The demo's stand-in for the payment provider (demo login only): applies a
   * successful payment of the order's total through the same code as a
   * verified webhook delivery.
   */
  payDemo: emittingProcedure
    .input(z.object({ orderId: z.string().min(1).max(64) }))
    .mutation(async ({ ctx, input }) => {
      if (!demoLoginEnabled) throw new TRPCError({ code: "NOT_FOUND", message: "no demo payments here" });
      const orgIds = [...ctx.entitlements.organizationIds];
      const order = await ctx.db.order.findFirst({ where: { id: input.orderId, organizationId: { in: orgIds } } });
      if (!order) throw new TRPCError({ code: "NOT_FOUND", message: "no such order in your organisation" });
      const result = await applyPayment(ctx.db, {
        id: `demo-${randomUUID()}`,
        type: "payment.succeeded",
        orderId: order.id,
        amount: order.totalCents,
        currency: order.currency,
        providerRef: "demo",
      });
      if (result.status >= 400) throw new TRPCError({ code: "CONFLICT", message: String(result.body.message) });
      return { orderId: order.id, paid: true };
    }),
});
