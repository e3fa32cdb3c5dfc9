/**
 * How a stamped envelope reaches every process that may hold recipients.
 *
 * Contract, for every implementation (tests/conformance/transport.suite.ts):
 * - `publish` hands the envelope to every registered handler of every
 *   instance, this instance's included; it resolves once the envelope is on
 *   its way, and rejects (never drops silently) when it cannot be sent.
 * - Handlers see envelopes in id order, never a lower id after a higher one.
 *   A subscription drops any live envelope at or below its cursor, so an
 *   implementation that reorders would lose events without a trace.
 * - At most once per handler: a duplicate is harmless (the cursor drops it)
 *   but costs a routing pass.
 * - Handlers run synchronously and must not throw.
 * - `signal` carries events that are state, not history (presence): to every
 *   instance's handlers like `publish`, at most once, but outside the stream's
 *   id order and never kept for replay. An instance that was away misses them.
 */
import type { EventEnvelope } from "./envelope";

export interface EventTransport {
  publish(envelope: EventEnvelope): void | Promise<void>;
  /** Delivers an unreplayed envelope (its id is not a stream id) to every instance. */
  signal(envelope: EventEnvelope): void | Promise<void>;
  /** Registers a handler; returns the function that removes it. */
  onEnvelope(handler: (envelope: EventEnvelope) => void): () => void;
  close(): Promise<void>;
}
