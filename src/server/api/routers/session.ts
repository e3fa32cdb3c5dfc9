import { createTRPCRouter, protectedProcedure } from "~/server/api/trpc";
import { endAllSignIns } from "~/server/auth/sign-in-sessions";

export const sessionRouter = createTRPCRouter({
  /** Ends every sign-in of the caller, this one included: every cookie stops working, every stream ends. */
  signOutEverywhere: protectedProcedure.mutation(({ ctx }) => endAllSignIns(ctx.session.user.id)),
});
