/**
 * How a notification inbox is read: newest first, then by id, at most
 * `INBOX_LIMIT`, in the same order as an order list. The query
 * (`notification.inbox`) and the live binding that places a new notification
 * in a cached inbox (src/trpc/live-bindings.ts) both follow it. No imports
 * beyond the order list's: the browser's bundle takes it too.
 */
export { listedBefore as inboxedBefore, orderListOrder as inboxOrder } from "./order-list";

export const INBOX_LIMIT = 20;
