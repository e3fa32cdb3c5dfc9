import type { EventData, EventName } from "./catalog";
import type { EventId } from "./event-id";
import type { EventTarget } from "./targets";

/** An event as the bus stores and routes it (server side only). */
export interface EventEnvelope<N extends EventName = EventName> {
  readonly id: EventId;
  readonly name: N;
  readonly version: number;
  readonly data: EventData<N>;
  /** ISO-8601 time of emission. */
  readonly emittedAt: string;
  readonly target: EventTarget;
}

/**
 * An event as a subscriber receives it: a discriminated union on `name`, so
 * `if (event.name === "order.created") event.data.displayAmount` type-checks.
 * The target is left out: it can name other users or organisations.
 */
export type LiveEvent = {
  [N in EventName]: {
    id: EventId;
    name: N;
    version: number;
    data: EventData<N>;
    emittedAt: string;
  };
}[EventName];

export type LiveEventOf<N extends EventName> = Extract<LiveEvent, { name: N }>;

const liveEvents = new WeakMap<EventEnvelope, LiveEvent>();

/** One frozen object per envelope, shared by every recipient (so its wire form is built once). */
export function toLiveEvent(envelope: EventEnvelope): LiveEvent {
  let event = liveEvents.get(envelope);
  if (!event) {
    event = Object.freeze({
      id: envelope.id,
      name: envelope.name,
      version: envelope.version,
      data: envelope.data,
      emittedAt: envelope.emittedAt,
    }) as LiveEvent;
    liveEvents.set(envelope, event);
  }
  return event;
}

/** One item of a subscription's stream: the event and its id, the resume cursor. */
export interface StreamItem {
  id: EventId;
  event: LiveEvent;
}
