import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { createTRPCRouter, emittingProcedure, protectedProcedure } from "~/server/api/trpc";
import { runtime } from "~/server/runtime";
import { bus } from "~/server/runtime/event-layer";
import { tabSessionId, type EventTarget } from "~/server/events";
import { publishedEventId, withEvents } from "~/server/db/outbox";
import { INBOX_LIMIT, inboxOrder } from "~/server/domain/notification-inbox";

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
   * With `inbox`, it is also kept in the recipients' inbox (`notification.inbox`),
   * stored in the same transaction as its event (the outbox); without, it is a
   * passing message (a ping), emitted at once.
   */
  send: emittingProcedure
    .input(
      z.object({
        target: notificationTarget,
        message: z.string().trim().min(1).max(1000),
        inbox: z.boolean().default(false),
      }),
    )
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
          if (input.inbox) {
            throw new TRPCError({ code: "BAD_REQUEST", message: "a notification to one tab is not kept in an inbox" });
          }
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

      const from = { userId: me.id, name: me.name ?? me.email ?? null };
      const notificationId = randomUUID();
      if (!input.inbox) {
        const envelope = await bus.emit(
          "notification.created",
          { notificationId, message: input.message, scope, from, stored: false },
          target,
        );
        // The id as recipients see it (sealed), never the layer's own sequence.
        return { id: runtime().events.cursors.seal(envelope.id), notificationId, emittedAt: envelope.emittedAt };
      }

      // Stored and announced together: no inbox row without its event, no event without its row.
      const stored = await withEvents(ctx.db, async (tx, emit) => {
        const row = await tx.notification.create({
          data: {
            id: notificationId,
            scope: scope === "user" ? "USER" : scope === "organization" ? "ORGANIZATION" : "BROADCAST",
            recipientUserId: target.kind === "user" ? target.userId : null,
            organizationId: target.kind === "organization" ? target.organizationId : null,
            fromUserId: from.userId,
            fromName: from.name,
            message: input.message,
          },
          select: { createdAt: true },
        });
        const seq = await emit(
          "notification.created",
          { notificationId, message: input.message, scope, from, stored: true, createdAt: row.createdAt.toISOString() },
          target,
        );
        return { seq, createdAt: row.createdAt };
      });
      const id = await publishedEventId(ctx.db, stored.seq);
      return { id, notificationId, emittedAt: stored.createdAt.getTime() };
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

  /**
   * My inbox: the stored notifications the stream delivers to me (to me, to
   * my organisations, to everyone), newest first. Kept live by a binding.
   */
  inbox: protectedProcedure.query(async ({ ctx }) => {
    const rows = await ctx.db.notification.findMany({
      where: {
        OR: [
          { recipientUserId: ctx.session.user.id },
          { organizationId: { in: [...ctx.entitlements.organizationIds] } },
          { scope: "BROADCAST" },
        ],
      },
      orderBy: [...inboxOrder],
      take: INBOX_LIMIT,
      select: { id: true, scope: true, message: true, fromUserId: true, fromName: true, createdAt: true },
    });
    return rows.map((row) => ({
      id: row.id,
      scope: row.scope === "USER" ? "user" : row.scope === "ORGANIZATION" ? "organization" : "broadcast",
      message: row.message,
      from: { userId: row.fromUserId, name: row.fromName },
      createdAt: row.createdAt,
    })) satisfies { scope: "user" | "organization" | "broadcast" }[];
  }),
});
