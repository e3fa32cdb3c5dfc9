/** An order's statuses, in the order an order moves through them (it may be cancelled before completion). */
export const orderStatuses = ["CREATED", "IN_PROGRESS", "DELIVERED", "COMPLETED", "CANCELLED"] as const;

export type OrderStatus = (typeof orderStatuses)[number];
