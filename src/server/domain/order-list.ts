/**
 * How an order list is read: newest first, then by id, at most
 * `ORDER_LIST_LIMIT`. The query (`order.list`) and the live bindings that
 * place a new order in a cached list (src/trpc/live-bindings.ts) both follow
 * it. No imports: the browser's bundle takes it too.
 */
export const ORDER_LIST_LIMIT = 20;

/** The query's order, as Prisma's `orderBy`. */
export const orderListOrder = [{ createdAt: "desc" }, { id: "desc" }] as const;

/** The same order in memory: whether `a` comes before `b`. */
export function listedBefore(a: { id: string; createdAt: Date }, b: { id: string; createdAt: Date }): boolean {
  const at = a.createdAt.getTime() - b.createdAt.getTime();
  return at > 0 || (at === 0 && a.id > b.id);
}
