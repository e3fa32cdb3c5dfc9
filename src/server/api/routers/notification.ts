import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { createTRPCRouter, emittingProcedure, protectedProcedure } from "~/server/api/trpc";
import { runtime } from "~/server/runtime";
import { bus } from "~/server/runtime/event-layer";
import { tabSessionId, type EventTarget } from "~/server/events";

const notificationTarget = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("user"), userId: z.string().min(1).max(64) }),
  z.object({ kind: z.literal("self") }),
  /** Only the session (browser tab) this request comes from. */
  z.object({ kind: z.literal("session") }),
  z.object({ kind: z.literal("organization"), organizationId: z.string().min(1).max(64).optional() }),
  z.object({ kind: z.literal("broadcast") }),
]);

export const notificationRouter = createTRPCRouter({
  /**
   * The demo mutation: emits `notification.created` to a user of one of my
   * organisations, to myself, to my organisation, or (platform operators) to every organisation.
   */
  send: emittingProcedure
    .input(z.object({ target: notificationTarget, message: z.string().trim().min(1).max(1000) }))
    .mutation(async ({ ctx, input }) => {
      const me = ctx.session.user;
      // The organisations the event layer delivers to this user by (briefly cached), so
      // who may address an organisation and who receives from it never disagree.
      const myOrgIds = ctx.entitlements.organizationIds;

      let target: EventTarget;
      let scope: "user" | "organization" | "broadcast";
      switch (input.target.kind) {
        case "self":
          target = { kind: "user", userId: me.id };
          scope = "user";
          break;
        case "session":
          target = { kind: "session", sessionId: tabSessionId(ctx.session.sessionId, ctx.tabId) };
          scope = "user";
          break;
        case "user": {
          if (input.target.userId !== me.id) {
            // The recipient's entitlements as delivery sees them (cached: they are likely connected).
            const theirs = await runtime().events.entitlements.get(input.target.userId);
            if (!theirs?.organizationIds.some((id) => myOrgIds.includes(id))) {
              // Same answer for "no such user" and "not in your organisation": no probing.
              throw new TRPCError({ code: "FORBIDDEN", message: "you can only notify members of your organisation" });
            }
          }
          target = { kind: "user", userId: input.target.userId };
          scope = "user";
          break;
        }
        case "organization": {
          const organizationId = input.target.organizationId ?? myOrgIds[0];
          if (!organizationId || !myOrgIds.includes(organizationId)) {
            throw new TRPCError({ code: "FORBIDDEN", message: "you can only notify your own organisation" });
          }
          target = { kind: "organization", organizationId };
          scope = "organization";
          break;
        }
        case "broadcast":
          // Every tenant at once: an organisation's admin reaches their own members with "organization".
          if (!ctx.adminScope.operator) {
            throw new TRPCError({
              code: "FORBIDDEN",
              message: "only platform operators can send to every organisation",
            });
          }
          target = { kind: "broadcast" };
          scope = "broadcast";
          break;
      }

      const envelope = await bus.emit(
        "notification.created",
        {
          notificationId: randomUUID(),
          message: input.message,
          scope,
          from: { userId: me.id, name: me.name ?? me.email ?? null },
        },
        target,
      );
      // The id as recipients see it (sealed), never the layer's own sequence.
      return { id: runtime().events.cursors.seal(envelope.id), emittedAt: envelope.emittedAt };
    }),

  /** Members of my organisations, for the "send to a user" picker. */
  recipients: protectedProcedure.query(async ({ ctx }) => {
    const members = await ctx.db.membership.findMany({
      where: { organizationId: { in: [...ctx.entitlements.organizationIds] } },
      select: {
        user: { select: { id: true, name: true, email: true } },
        organization: { select: { id: true, name: true } },
      },
      orderBy: { createdAt: "asc" },
    });
    return members.map((m) => ({ ...m.user, organization: m.organization }));
  }),
});
