/**
 * The event catalog: the one source of truth for every event that crosses the
 * wire. `bus.emit` validates against it, the subscription's output type is
 * derived from it, and React narrows on it.
 *
 * Change policy (enforced by tests/unit/catalog-contract.test.ts against
 * src/server/events/catalog-contract.json):
 *   - additive changes are safe: a new optional field, a new derived field, a
 *     new event name;
 *   - anything breaking (removing, renaming or retyping a field, making an
 *     optional field required, changing an audience) needs a new event name
 *     or version, e.g. `order.status.changed.v2`, emitted next to the old one
 *     until every consumer moved.
 */
import { z } from "zod";

/**
 * Who an event may be addressed to:
 * - "user": a user, one of their sessions, or a metadata match;
 * - "organization": an organisation (or a metadata match inside one);
 * - "broadcast": anyone, up to everyone.
 * System events are produced by the event layer itself, never by `bus.emit`.
 */
export type EventAudience = "user" | "organization" | "broadcast" | "system";

export interface EventDefinition<
  TPayload extends z.ZodObject = z.ZodObject,
  TDerived extends z.ZodObject = z.ZodObject,
> {
  audience: EventAudience;
  version: number;
  description: string;
  /** What the emitter passes to `bus.emit`. */
  payload: TPayload;
  /**
   * False for state rather than history (presence): delivered live to whoever
   * is connected, never kept in the replay log, so its volume can neither
   * evict other events nor cause a gap. A client that (re)connects reads the
   * current state instead of a replay of changes.
   */
  replayed?: false;
  /** Tiny fields the server adds (e.g. displayAmount); never sent by emitters. */
  derived?: {
    schema: TDerived;
    compute: (payload: z.output<TPayload>) => z.output<TDerived>;
  };
}

function defineEvent<TPayload extends z.ZodObject, TDerived extends z.ZodObject = z.ZodObject<Record<never, never>>>(
  definition: EventDefinition<TPayload, TDerived>,
) {
  return definition;
}

// --- shared field schemas ---------------------------------------------------
const id = z.string().min(1).max(64);
const currency = z.string().regex(/^[A-Z]{3}$/, "currency must be an ISO 4217 code such as USD");
/** Money travels in minor units (cents) as an integer. */
const minorUnits = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const shortText = (max: number) => z.string().trim().min(1).max(max);

export const orderStatuses = ["CREATED", "IN_PROGRESS", "DELIVERED", "COMPLETED", "CANCELLED"] as const;
const orderStatus = z.enum(orderStatuses);

export function formatMoney(amountMinor: number, currencyCode: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currencyCode }).format(amountMinor / 100);
  } catch {
    return `${(amountMinor / 100).toFixed(2)} ${currencyCode}`;
  }
}

const displayAmount = z.object({ displayAmount: z.string() });

export const eventCatalog = {
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
    payload: z.object({ orderId: id, amount: minorUnits, currency, providerRef: shortText(128) }),
    derived: { schema: displayAmount, compute: (p) => ({ displayAmount: formatMoney(p.amount, p.currency) }) },
  }),
  "payment.failed": defineEvent({
    audience: "organization",
    version: 1,
    description: "The payment provider reported a failed payment.",
    payload: z.object({ orderId: id, errorCode: shortText(64) }),
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
    }),
  }),
  "presence.changed": defineEvent({
    audience: "organization",
    version: 1,
    replayed: false,
    description:
      "A member of the organisation came online or went offline (at most one per member and second). Live only, never replayed: after system.ready, read the list (events.presence).",
    payload: z.object({
      organizationId: id,
      userId: id,
      name: z.string().max(200).nullable(),
      online: z.boolean(),
    }),
  }),
  "presence.many_changed": defineEvent({
    audience: "organization",
    version: 1,
    replayed: false,
    description:
      "Many members came online or went offline at once (more than the per-second limit of presence.changed): read the list again. Live only, never replayed.",
    payload: z.object({
      organizationId: id,
      /** Transitions folded into this event. */
      changes: z.number().int().positive(),
    }),
  }),
  "system.ready": defineEvent({
    audience: "system",
    version: 1,
    description:
      "Sent once per subscription when it is listening: anything emitted from now on arrives. Its id is a resumable cursor.",
    payload: z.object({ connectionId: id, resumedFrom: z.string().nullable(), replayed: z.number().int() }),
  }),
  "system.gap": defineEvent({
    audience: "system",
    version: 1,
    description: "The requested lastEventId is older than the replay log: events may have been missed, refetch state.",
    payload: z.object({
      lastEventId: z.string(),
      oldestAvailableId: z.string().nullable(),
      reason: z.enum(["retention_exceeded", "unknown_cursor"]),
    }),
  }),
} as const satisfies Record<string, EventDefinition>;

export type EventCatalog = typeof eventCatalog;
export type EventName = keyof EventCatalog;
export type SystemEventName = {
  [N in EventName]: EventCatalog[N]["audience"] extends "system" ? N : never;
}[EventName];
/** Names that backend code may publish with `bus.emit`. */
export type EmittableEventName = Exclude<EventName, SystemEventName>;

type DerivedOf<N extends EventName> = z.output<NonNullable<EventCatalog[N]["derived"]>["schema"]>;

/** What `bus.emit(name, payload)` accepts. */
export type EventPayload<N extends EventName> = z.input<EventCatalog[N]["payload"]>;
/** What subscribers receive as `data`: the payload plus derived fields. */
export type EventData<N extends EventName> = z.output<EventCatalog[N]["payload"]> & DerivedOf<N>;

export const eventNames = Object.keys(eventCatalog) as EventName[];
export const emittableEventNames = eventNames.filter(
  (name): name is EmittableEventName => eventCatalog[name].audience !== "system",
);

export const eventNameSchema = z.enum(eventNames as [EventName, ...EventName[]], {
  error: (issue) => `unknown event name ${JSON.stringify(issue.input)}; known: ${eventNames.join(", ")}`,
});

const unreplayed = new Set(eventNames.filter((name) => eventCatalog[name].replayed === false));

/** Whether events of this name are kept for replay (history), or only delivered live (state). */
export function isReplayed(name: EventName): boolean {
  return !unreplayed.has(name);
}

export function isEventName(value: string): value is EventName {
  return Object.hasOwn(eventCatalog, value);
}

/** The schema of `data` as delivered (payload plus derived fields). */
export function deliveredDataSchema(name: EventName): z.ZodObject {
  const definition: EventDefinition = eventCatalog[name];
  return definition.derived ? definition.payload.extend(definition.derived.schema.shape) : definition.payload;
}
