import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { adminProcedure, createTRPCRouter } from "~/server/api/trpc";
import { endAllSignIns } from "~/server/auth/sign-in-sessions";
import { getEventLayer } from "~/server/event-layer";

export const adminRouter = createTRPCRouter({
  /**
   * Promotes or demotes a user. Takes effect on their next request and their
   * open streams' next re-authorisation: roles are read from the database,
   * never from the session cookie.
   */
  setRole: adminProcedure
    .input(z.object({ userId: z.string().min(1).max(64), role: z.enum(["ADMIN", "MEMBER"]) }))
    .mutation(async ({ ctx, input }) => {
      if (input.userId === ctx.session.user.id) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "ask another administrator to change your own role" });
      }
      const updated = await ctx.db.user.updateMany({ where: { id: input.userId }, data: { role: input.role } });
      if (updated.count === 0) throw new TRPCError({ code: "NOT_FOUND", message: "no such user" });
      getEventLayer().entitlements.invalidate(input.userId);
      return { userId: input.userId, role: input.role };
    }),

  /** Ends every sign-in of a user: their cookies stop working and their open streams end at once. */
  revokeUser: adminProcedure
    .input(z.object({ userId: z.string().min(1).max(64) }))
    .mutation(({ input }) => endAllSignIns(input.userId)),
});
