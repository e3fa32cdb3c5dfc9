/**
 * The app's live queries: what each event does to the queries it concerns.
 * Adding a live list is one entry here; components keep calling
 * `api.<router>.<query>.useQuery(input)`.
 */
import type { AppRouter } from "~/server/api/root";
import { INBOX_LIMIT, inboxedBefore } from "~/server/domain/notification-inbox";
import { listedBefore, ORDER_LIST_LIMIT } from "~/server/domain/order-list";
import { defineLiveBindings, insertOrdered, keep, patchVersioned, refetch } from "./live/bindings";

export const liveBindings = defineLiveBindings<AppRouter>()({
  "order.list": {
    // A new order takes its place in every list it belongs to (the stream only carries
    // the subscriber's organisations' orders; a filter narrows it further).
    "order.created": (orders, { data }, input) => {
      if (!data.organizationId || !data.createdAt || data.orderVersion === undefined) return refetch;
      if (input?.organizationId && input.organizationId !== data.organizationId) return keep;
      if (input?.status && input.status !== "CREATED") return keep;
      return insertOrdered(
        orders,
        {
          id: data.orderId,
          organizationId: data.organizationId,
          title: data.title,
          totalCents: data.total,
          currency: data.currency,
          status: "CREATED",
          paymentStatus: "UNPAID",
          version: data.orderVersion,
          createdAt: new Date(data.createdAt),
        },
        listedBefore,
        ORDER_LIST_LIMIT,
      );
    },
    "order.status.changed": (orders, { data }, input) => {
      const held = orders.some((o) => o.id === data.orderId);
      if (input?.status) {
        // A filtered list: an order leaving the status leaves the list; one entering it needs a read.
        if (held && data.to !== input.status) return orders.filter((o) => o.id !== data.orderId);
        if (!held) return data.to === input.status ? refetch : keep;
      }
      if (!held) return orders.length < ORDER_LIST_LIMIT ? refetch : keep;
      return patchVersioned(orders, data.orderId, data.orderVersion, (o) => ({ ...o, status: data.to }));
    },
    "payment.succeeded": (orders, { data }) =>
      orders.some((o) => o.id === data.orderId)
        ? patchVersioned(orders, data.orderId, data.orderVersion, (o) => ({ ...o, paymentStatus: "PAID" }))
        : keep,
    "payment.failed": (orders, { data }) =>
      orders.some((o) => o.id === data.orderId)
        ? patchVersioned(orders, data.orderId, data.orderVersion, (o) => ({ ...o, paymentStatus: "FAILED" }))
        : keep,
  },
  "notification.inbox": {
    // The stream carries exactly the notifications addressed to this reader; a passing
    // one (a ping: `stored` false, or absent on events from before the inbox) never
    // reaches the inbox.
    "notification.created": (inbox, { data }) => {
      if (data.stored !== true) return keep;
      if (!data.createdAt) return refetch;
      return insertOrdered(
        inbox,
        {
          id: data.notificationId,
          scope: data.scope,
          message: data.message,
          from: data.from,
          createdAt: new Date(data.createdAt),
        },
        inboxedBefore,
        INBOX_LIMIT,
      );
    },
  },
  "events.presence": {
    "presence.changed": "refetch",
    "presence.many_changed": "refetch",
  },
});
