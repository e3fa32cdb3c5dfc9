/**
 * The app's events: the one source of truth for every event that crosses the
 * wire. `bus.emit` validates against it, the subscription's output type is
 * derived from it, and React narrows on it. The layer's own events (presence,
 * `system.*`) and the machinery are in src/server/events/catalog.ts.
 *
 * Change policy (enforced by tests/unit/catalog-contract.test.ts against
 * src/server/events/catalog-contract.json; `npm run catalog:snapshot` records
 * additions):
 *   - additive changes are safe: a new optional field, a new derived field, a
 *     new event name;
 *   - anything breaking (removing, renaming or retyping a field, making an
 *     optional field required, changing an audience) needs a new event name
 *     or version, e.g. `order.status.changed.v2`, emitted next to the old one
 *     until every consumer moved.
 */
import { z } from "zod";

import { defineCatalog, defineEvent, fields, type EventDefinition } from "~/server/events/catalog";
import { formatMoney } from "./money";
import { orderStatuses } from "./order-status";

const { id, shortText } = fields;
const currency = z.string().regex(/^[A-Z]{3}$/, "currency must be an ISO 4217 code such as USD");
/** Money travels in minor units (cents) as an integer. */
const minorUnits = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const orderStatus = z.enum(orderStatuses);
const displayAmount = z.object({ displayAmount: z.string() });

const count = z.number().int().nonnegative();
const milliseconds = z.number().nonnegative().nullable();
/** One second of delivery figures (counts are per second, except `streams`: open at the end of it). */
const consoleSample = z.object({
  instanceId: id,
  scope: z.enum(["platform", "organization"]),
  organizationId: id.optional(),
  /** The second it covers (ms since the epoch, at its end). */
  at: z.number().int().positive(),
  emitted: count,
  written: count,
  streams: count,
  /** Streams opened in this second: the connections table reads again when streams are replaced, not only added. */
  opened: count.optional(),
  /** Emit-to-socket-write lag of this second's deliveries (bucket upper bounds). */
  lagP50: milliseconds,
  lagP99: milliseconds,
  resumes: count,
  replayed: count,
  gapsRetention: count,
  gapsUnknown: count,
  slowConsumer: count,
  stalled: count,
  rateLimited: count,
  /** Instance health (platform samples only). */
  health: z
    .object({
      uptimeS: count,
      version: z.string().max(64),
      eventLoopLagP99: milliseconds,
      redis: z.enum(["ok", "down", "none"]),
      database: z.enum(["ok", "down"]),
      outboxPending: count.nullable(),
      relayLagMs: milliseconds,
    })
    .optional(),
});

export const appEvents = {
  "order.created": defineEvent({
    audience: "organization",
    version: 1,
    description: "A new order was placed in the organisation.",
    payload: z.object({
      orderId: id,
      title: shortText(200),
      total: minorUnits,
      currency,
      /** The order's version after this change: a consumer tells a stale update from a new one. */
      orderVersion: z.number().int().positive().optional(),
      /** The organisation it belongs to, and when it was placed: a list can place it without a fetch. */
      organizationId: id.optional(),
      createdAt: z.iso.datetime().optional(),
    }),
    derived: { schema: displayAmount, compute: (p) => ({ displayAmount: formatMoney(p.total, p.currency) }) },
  }),
  "order.status.changed": defineEvent({
    audience: "organization",
    version: 1,
    description: "An order moved from one status to another.",
    payload: z.object({
      orderId: id,
      from: orderStatus,
      to: orderStatus,
      /** The order's version after this change: a consumer tells a stale update from a new one. */
      orderVersion: z.number().int().positive().optional(),
    }),
  }),
  "deliverable.uploaded": defineEvent({
    audience: "organization",
    version: 1,
    description: "A teammate uploaded a deliverable for a milestone.",
    payload: z.object({ orderId: id, deliverableId: id, milestoneId: id }),
  }),
  "deliverable.accepted": defineEvent({
    audience: "organization",
    version: 1,
    description: "A deliverable was accepted.",
    payload: z.object({ orderId: id, deliverableId: id }),
  }),
  "deliverable.rejected": defineEvent({
    audience: "organization",
    version: 1,
    description: "A deliverable was rejected, with a reason.",
    payload: z.object({ orderId: id, deliverableId: id, reason: shortText(500) }),
  }),
  "payment.succeeded": defineEvent({
    audience: "organization",
    version: 1,
    description: "The payment provider confirmed a payment.",
    payload: z.object({
      orderId: id,
      amount: minorUnits,
      currency,
      providerRef: shortText(128),
      /** The order's version after this change. */
      orderVersion: z.number().int().positive().optional(),
    }),
    derived: { schema: displayAmount, compute: (p) => ({ displayAmount: formatMoney(p.amount, p.currency) }) },
  }),
  "payment.failed": defineEvent({
    audience: "organization",
    version: 1,
    description: "The payment provider reported a failed payment.",
    payload: z.object({
      orderId: id,
      errorCode: shortText(64),
      /** The order's version after this change. */
      orderVersion: z.number().int().positive().optional(),
    }),
  }),
  "escrow.released": defineEvent({
    audience: "organization",
    version: 1,
    description: "Escrowed funds for a milestone were released.",
    payload: z.object({ orderId: id, milestoneId: id, amount: minorUnits, currency: currency.optional() }),
    derived: {
      schema: z.object({ displayAmount: z.string().optional() }),
      compute: (p) => (p.currency ? { displayAmount: formatMoney(p.amount, p.currency) } : {}),
    },
  }),
  "dispute.opened": defineEvent({
    audience: "organization",
    version: 1,
    description: "A dispute was opened on an order.",
    payload: z.object({ orderId: id, disputeId: id, reason: shortText(500) }),
  }),
  "dispute.resolved": defineEvent({
    audience: "organization",
    version: 1,
    description: "A dispute was resolved.",
    payload: z.object({ orderId: id, disputeId: id, resolution: shortText(500) }),
  }),
  "contract.fully_signed": defineEvent({
    audience: "organization",
    version: 1,
    description: "Every party signed a contract.",
    payload: z.object({ contractId: id, number: shortText(64) }),
  }),
  "notification.created": defineEvent({
    audience: "broadcast",
    version: 1,
    description: "A message from one user to a user, an organisation, or everyone.",
    payload: z.object({
      notificationId: id,
      message: shortText(1000),
      scope: z.enum(["user", "organization", "broadcast"]),
      from: z.object({ userId: id, name: z.string().max(200).nullable() }),
      /** Kept in the recipients' inbox (`notification.inbox`); a transient one (a ping) is not. */
      stored: z.boolean().optional(),
      /** When it was stored: an inbox can place it without a fetch. */
      createdAt: z.iso.datetime().optional(),
    }),
  }),
  "console.sample": defineEvent({
    audience: "broadcast",
    version: 1,
    replayed: false,
    optIn: true,
    description:
      "One second of one instance's delivery figures, for the operator console: the platform's (to operators) or one organisation's (to its administrators). Live only, and only to subscriptions that name it.",
    payload: consoleSample,
  }),
  "admin.action": defineEvent({
    audience: "organization",
    version: 1,
    description:
      "An administrator ended a member's stream or sign-ins from the operator console (the audit trail, sent to the organisation's administrators).",
    payload: z.object({
      action: z.enum(["stream.ended", "sign_in.revoked"]),
      organizationId: id,
      by: z.object({ userId: id, name: z.string().max(200).nullable() }),
      subject: z.object({ userId: id, name: z.string().max(200).nullable() }),
      /** Streams it ended. */
      streams: z.number().int().nonnegative(),
    }),
  }),
} as const satisfies Record<string, EventDefinition>;

declare module "~/server/events/catalog" {
  interface Register {
    events: typeof appEvents;
  }
}

/** The app's events with the layer's own: what the event layer carries. */
export const catalog = defineCatalog(appEvents);
export const {
  definitions: eventCatalog,
  isEventName,
  nameSchema: eventNameSchema,
  emittableNames: emittableEventNames,
  deliveredDataSchema,
} = catalog;
