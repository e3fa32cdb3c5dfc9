import type { EventData, EventName } from "./catalog";
import type { EventId } from "./event-id";
import { splitSessionId } from "./identity";
import type { EventTarget } from "./targets";

/** The id of an event that is not in the stream (`replayed: false` in the catalog): never a cursor. */
export const UNREPLAYED_ID = "0-0";

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
    /**
     * Set when the event was sent to one tab of the sign-in: a stream the
     * tabs share hands it to that tab alone.
     */
    tabId?: string;
  };
}[EventName];

export type LiveEventOf<N extends EventName> = Extract<LiveEvent, { name: N }>;

/** One item of a subscription's stream: the event and its id, the resume cursor. */
export interface StreamItem {
  id: EventId;
  event: LiveEvent;
}

const items = new WeakMap<EventEnvelope, StreamItem>();

/**
 * The stream item of an envelope: one frozen object per envelope, shared by
 * every recipient, so delivery allocates nothing per subscriber and the wire
 * form can be built once per event.
 */
export function toStreamItem(envelope: EventEnvelope): StreamItem {
  let item = items.get(envelope);
  if (!item) {
    const tabId = envelope.target.kind === "session" ? splitSessionId(envelope.target.sessionId).tabId : null;
    const event = Object.freeze({
      id: envelope.id,
      name: envelope.name,
      version: envelope.version,
      data: envelope.data,
      emittedAt: envelope.emittedAt,
      ...(tabId ? { tabId } : {}),
    }) as LiveEvent;
    item = Object.freeze({ id: envelope.id, event });
    items.set(envelope, item);
  }
  return item;
}
