/**
 * The one error type of the event layer. Each subclass names a code from the
 * layer's own list, so any edge (tRPC, a raw SSE writer, a webhook) can map it
 * to its protocol without knowing the subclasses.
 */

/** What went wrong, in terms an API edge can translate (HTTP status, tRPC code). */
export type EventErrorCode =
  "BAD_REQUEST" | "UNAUTHORIZED" | "PAYLOAD_TOO_LARGE" | "TOO_MANY_REQUESTS" | "SERVICE_UNAVAILABLE";

const BRAND = Symbol.for("t3-live-events.EventLayerError");

export abstract class EventLayerError extends Error {
  abstract readonly code: EventErrorCode;
  readonly [BRAND] = true;

  /**
   * `instanceof EventLayerError` holds across copies of this module: Next.js
   * bundles it once per route, and the process-wide layer throws from
   * whichever copy built it.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    if (this !== EventLayerError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && BRAND in value;
  }

  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Unknown event name, or a payload that does not match the catalog. */
export class EventValidationError extends EventLayerError {
  readonly code = "BAD_REQUEST" as const;
}

/** The target does not fit the event's audience, or is malformed. */
export class EventTargetError extends EventLayerError {
  readonly code = "BAD_REQUEST" as const;
}

export class EventPayloadTooLargeError extends EventLayerError {
  readonly code = "PAYLOAD_TOO_LARGE" as const;
}

/** A lastEventId that is malformed or was never issued by this stream. */
export class InvalidEventIdError extends EventLayerError {
  readonly code = "BAD_REQUEST" as const;
}

/** An open subscription's session or user is no longer valid (expired, deleted). */
export class SubscriptionRevokedError extends EventLayerError {
  readonly code = "UNAUTHORIZED" as const;
}

/** The global or per-user limit of open subscriptions was reached. */
export class ConnectionLimitError extends EventLayerError {
  readonly code = "TOO_MANY_REQUESTS" as const;
}

/**
 * The engine behind the layer (Redis) cannot be reached: the event was not
 * recorded, and the caller is told so rather than losing it silently.
 */
export class EventStoreUnavailableError extends EventLayerError {
  readonly code = "SERVICE_UNAVAILABLE" as const;
}
