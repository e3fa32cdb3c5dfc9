/**
 * The events the layer itself writes into a stream. Their shape and version
 * come from the catalog like any other event's.
 */
import { coreEvents, type EventData } from "./catalog";
import type { StreamItem } from "./envelope";
import type { EventId } from "./event-id";

function systemItem<N extends "system.ready" | "system.gap">(name: N, cursor: EventId, data: EventData<N>): StreamItem {
  return {
    id: cursor,
    event: {
      id: cursor,
      name,
      version: coreEvents[name].version,
      emittedAt: new Date().toISOString(),
      data,
    } as StreamItem["event"],
  };
}

/** The subscription is listening: everything emitted from now on arrives. Its id is a cursor. */
export function readyItem(cursor: EventId, data: EventData<"system.ready">): StreamItem {
  return systemItem("system.ready", cursor, data);
}

/** Events after the client's cursor may have been missed; the client refetches its state. */
export function gapItem(cursor: EventId, data: EventData<"system.gap">): StreamItem {
  return systemItem("system.gap", cursor, data);
}
