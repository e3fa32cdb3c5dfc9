import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { administersAny } from "~/server/auth/access";
import { adminProcedure, createTRPCRouter, type ProtectedContext } from "~/server/api/trpc";
import { endAllSignIns } from "~/server/auth/sign-in-sessions";
import { runtime } from "~/server/runtime";

const userId = z.string().min(1).max(64);

/** The user's organisations, or NOT_FOUND unless the caller administers one of them (no probing of other tenants). */
async function memberOrganizationsInScope(ctx: ProtectedContext, id: string): Promise<string[]> {
  const memberships = await ctx.db.membership.findMany({ where: { userId: id }, select: { organizationId: true } });
  const organizationIds = memberships.map((m) => m.organizationId);
  const exists = ctx.adminScope.operator ? (await ctx.db.user.count({ where: { id } })) > 0 : true;
  if (!exists || !administersAny(ctx.adminScope, organizationIds)) {
    throw new TRPCError({ code: "NOT_FOUND", message: "no such member in an organisation you administer" });
  }
  return organizationIds;
}

export const adminRouter = createTRPCRouter({
  /**
   * Makes a member an administrator of one organisation, or a member again.
   * Takes effect on their next request and their open streams' next
   * re-authorisation: roles are read from the database, never from the cookie.
   */
  setRole: adminProcedure
    .input(z.object({ userId, organizationId: z.string().min(1).max(64), role: z.enum(["ADMIN", "MEMBER"]) }))
    .mutation(async ({ ctx, input }) => {
      if (!administersAny(ctx.adminScope, [input.organizationId])) {
        throw new TRPCError({ code: "NOT_FOUND", message: "no such member in an organisation you administer" });
      }
      if (input.userId === ctx.session.user.id) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "ask another administrator to change your own role" });
      }
      const membership = await ctx.db.membership.findUnique({
        where: { userId_organizationId: { userId: input.userId, organizationId: input.organizationId } },
      });
      if (!membership) {
        throw new TRPCError({ code: "NOT_FOUND", message: "no such member in an organisation you administer" });
      }
      if (membership.role === "OWNER" && !ctx.adminScope.operator) {
        throw new TRPCError({ code: "FORBIDDEN", message: "an organisation's owner keeps their role" });
      }
      await ctx.db.membership.update({ where: { id: membership.id }, data: { role: input.role } });
      runtime().events.entitlements.invalidate(input.userId);
      return { userId: input.userId, organizationId: input.organizationId, role: input.role };
    }),

  /**
   * Ends every sign-in of a member of an organisation the caller administers
   * (any user, for the platform operator): their cookies stop working and
   * their open streams end at once.
   */
  revokeUser: adminProcedure.input(z.object({ userId })).mutation(async ({ ctx, input }) => {
    await memberOrganizationsInScope(ctx, input.userId);
    return endAllSignIns(input.userId);
  }),
});
