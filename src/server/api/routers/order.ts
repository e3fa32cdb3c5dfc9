import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { createTRPCRouter, emittingProcedure, protectedProcedure } from "~/server/api/trpc";
import { orderStatuses } from "~/server/events";
import { OrderTransitionError, changeOrderStatus, createOrder } from "~/server/services/orders";

export const orderRouter = createTRPCRouter({
  list: protectedProcedure.query(async ({ ctx }) => {
    const orgIds = [...ctx.entitlements.organizationIds];
    return ctx.db.order.findMany({
      where: { organizationId: { in: orgIds } },
      orderBy: { createdAt: "desc" },
      take: 20,
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
      try {
        return await changeOrderStatus(ctx.db, order.id, input.to);
      } catch (error) {
        if (error instanceof OrderTransitionError) {
          throw new TRPCError({ code: "CONFLICT", message: error.message });
        }
        throw error;
      }
    }),
});
