/**
 * The event bus: the one way server code publishes. `emit` validates against
 * the catalog, checks the target against the event's audience, stamps a
 * resumable id, records the event in the replay log and hands it to the
 * transport, which delivers it to every matching subscriber. Validation and
 * serialisation happen once per emit; nothing is delivered when any step
 * fails.
 */
import { z } from "zod";

import {
  optInIn,
  type CatalogDefinitions,
  type EmittableEventName,
  type EventDefinition,
  type EventName,
  type EventPayload,
} from "./catalog";
import { DeliveryLag } from "./delivery-lag";
import type { SubscriberIdentity } from "./identity";
import { silentLogger, type EventLayerLogger } from "./logger";
import { UNREPLAYED_ID, type EventEnvelope } from "./envelope";
import { EventPayloadTooLargeError, EventValidationError } from "./errors";
import type { EventId } from "./event-id";
import type { EventDraft, ReplayLog, ReplayResult } from "./replay-log";
import { SubscriberIndex, type Subscriber } from "./subscriber-index";
import { assertTargetFitsAudience, audiencesOf, isAddressedTo, type Audience, type EventTarget } from "./targets";
import type { TenantCountersByOrganization } from "./tenant-counters";
import type { EventTransport } from "./transport";

export interface EventBusOptions {
  /** The events it carries (the app's catalog, src/server/domain/catalog.ts, with the layer's own). */
  catalog: CatalogDefinitions;
  log: ReplayLog;
  transport: EventTransport;
  maxPayloadBytes: number;
  logger?: EventLayerLogger;
  /** Where an organisation's emits and delivery lag are counted. */
  tenants?: TenantCountersByOrganization;
}

export interface EventBusStats {
  /** Events published to history (the replay log) by this instance. */
  emitted: number;
  /** State events (`replayed: false`: presence, console samples) published live only. */
  signalled: number;
  rejected: number;
  delivered: number;
  subscribers: number;
  logSize: number;
  head: EventId;
}

// zod compiles a schema on its first parse; a fresh `.strict()` per emit paid that every time.
const strictPayloads = new Map<EventName, z.ZodObject>();
function strictPayloadOf(name: EventName, definition: EventDefinition): z.ZodObject {
  let schema = strictPayloads.get(name);
  if (!schema) strictPayloads.set(name, (schema = definition.payload.strict()));
  return schema;
}

export class EventBus {
  private readonly index: SubscriberIndex;
  private readonly detachTransport: () => void;
  private readonly logger: EventLayerLogger;
  private emitted = 0;
  private signalled = 0;
  private rejected = 0;
  private delivered = 0;
  private readonly isOptIn: (name: EventName) => boolean;
  private readonly publishedListeners = new Set<(envelope: EventEnvelope) => void>();
  /** Emit-to-write lag of this process's deliveries. */
  readonly lag = new DeliveryLag();

  constructor(private readonly options: EventBusOptions) {
    this.logger = options.logger ?? silentLogger;
    this.isOptIn = optInIn(options.catalog);
    this.index = new SubscriberIndex(
      (subscriber, error) =>
        this.logger.error(
          { event: "delivery.failed", subscriberId: subscriber.id, userId: subscriber.userId, err: error },
          "delivery to a subscriber failed",
        ),
      this.isOptIn,
    );
    this.detachTransport = options.transport.onEnvelope((envelope) => {
      const reached = this.index.deliver(envelope);
      if (reached === 0) return;
      this.delivered += reached;
      // One reading for every recipient: they were written in this one synchronous pass.
      const lagMs = Date.now() - Date.parse(envelope.emittedAt);
      this.lag.record(lagMs, reached);
      const organizationId = organizationOf(envelope.target);
      if (organizationId) this.options.tenants?.of(organizationId).lag.record(lagMs, reached);
    });
  }

  /**
   * Publishes `payload` as event `name` to `target`. Throws EventValidationError,
   * EventTargetError or EventPayloadTooLargeError before anything is delivered.
   */
  async emit<N extends EmittableEventName>(
    name: N,
    payload: EventPayload<N>,
    target: EventTarget,
  ): Promise<EventEnvelope<N>> {
    return (await this.publish(this.validate(name, payload, target))) as EventEnvelope<N>;
  }

  /**
   * Delivers an event that is state, not history (`replayed: false` in the
   * catalog) to whoever is connected, without the replay log: it takes no id
   * of the stream, no place in any audience's history, and is never replayed.
   */
  private async signal(draft: EventDraft): Promise<EventEnvelope> {
    const envelope: EventEnvelope = Object.freeze({ ...draft, id: UNREPLAYED_ID });
    await this.options.transport.signal(envelope);
    this.signalled++;
    return envelope;
  }

  /**
   * Checks `payload` and `target` as `emit` does and returns the event ready
   * to publish, without publishing it: the transactional outbox records it
   * with the change it describes, and its relay calls `publish` later.
   */
  validate<N extends EmittableEventName>(name: N, payload: EventPayload<N>, target: EventTarget): EventDraft {
    try {
      return this.prepare(name, payload, target);
    } catch (error) {
      this.rejected++;
      this.logger.warn(
        { event: "event.rejected", name: String(name).slice(0, 100), reason: (error as Error).message },
        "event rejected",
      );
      throw error;
    }
  }

  /**
   * Stamps a validated event with its id, records it in the replay log and
   * delivers it. With a `key` (the outbox relay's row), publishing the same
   * event again returns its first envelope and delivers nothing: a relay that
   * crashed before marking its row cannot give one event two ids.
   */
  async publish(draft: EventDraft, options: { key?: string } = {}): Promise<EventEnvelope> {
    // State, not history (presence): no log, no id of the stream.
    if (this.options.catalog[draft.name]?.replayed === false) return this.signal(draft);
    const { log, transport } = this.options;
    const { envelope, repeated } =
      options.key === undefined
        ? { envelope: await log.append(draft), repeated: false }
        : await log.appendOnce(draft, options.key);
    if (repeated) return envelope;
    await transport.publish(envelope);
    this.emitted++;
    const organizationId = organizationOf(envelope.target);
    if (organizationId && this.options.tenants) this.options.tenants.of(organizationId).emitted++;
    for (const listener of this.publishedListeners) listener(envelope);
    // debug, not info: one line per emit is too much at volume; connections log at info.
    this.logger.debug(
      { event: "event.emitted", id: envelope.id, name: envelope.name, target: envelope.target.kind },
      "event emitted",
    );
    return envelope;
  }

  private prepare<N extends EmittableEventName>(
    name: N,
    payload: EventPayload<N>,
    target: EventTarget,
  ): Omit<EventEnvelope<N>, "id"> {
    if (typeof name !== "string" || !Object.hasOwn(this.options.catalog, name)) {
      throw new EventValidationError(`unknown event name ${JSON.stringify(name)}`);
    }
    const definition: EventDefinition = this.options.catalog[name];
    const validTarget = assertTargetFitsAudience(name, definition.audience, target);
    const serialized = JSON.stringify(payload) ?? "";
    const bytes = Buffer.byteLength(serialized);
    if (bytes > this.options.maxPayloadBytes) {
      throw new EventPayloadTooLargeError(
        `${name} payload is ${bytes} bytes; the limit is ${this.options.maxPayloadBytes} (send ids, not whole objects)`,
        { bytes, limit: this.options.maxPayloadBytes },
      );
    }
    const parsed = strictPayloadOf(name, definition).safeParse(payload);
    if (!parsed.success) {
      throw new EventValidationError(`invalid ${name} payload: ${z.prettifyError(parsed.error)}`, {
        issues: parsed.error.issues,
      });
    }
    const data = definition.derived ? { ...parsed.data, ...definition.derived.compute(parsed.data) } : parsed.data;
    return {
      name,
      version: definition.version,
      data: Object.freeze(data) as EventEnvelope<N>["data"],
      emittedAt: new Date().toISOString(),
      target: validTarget,
    };
  }

  /** Adds a subscriber in this process; returns the function that removes it. */
  subscribe(subscriber: Subscriber): () => void {
    return this.index.add(subscriber);
  }

  /** Replays what the log holds after `afterId` for this subscriber, or reports a gap. */
  async readAfter(
    afterId: EventId,
    subscriber: SubscriberIdentity,
    names: ReadonlySet<EventName> | null,
  ): Promise<ReplayResult> {
    return this.options.log.readAfter(afterId, {
      audiences: audiencesOf(subscriber),
      filter: (envelope) =>
        (names ? names.has(envelope.name) : !this.isOptIn(envelope.name)) && isAddressedTo(envelope.target, subscriber),
    });
  }

  /**
   * Calls `listener` with every event this process publishes to history
   * (after the transport took it). It must be cheap and must not throw: it
   * runs on the emit path. Returns the function that removes it.
   */
  onPublished(listener: (envelope: EventEnvelope) => void): () => void {
    this.publishedListeners.add(listener);
    return () => this.publishedListeners.delete(listener);
  }

  /** Events one audience holds in the replay log now (how close its readers are to a gap). */
  async retained(audience: Audience): Promise<number> {
    return this.options.log.retained(audience);
  }

  async head(): Promise<EventId> {
    return this.options.log.head();
  }

  /** The bus's counters, without the log's figures (which may cost a round trip). */
  totals(): Pick<EventBusStats, "emitted" | "signalled" | "rejected" | "delivered"> {
    return { emitted: this.emitted, signalled: this.signalled, rejected: this.rejected, delivered: this.delivered };
  }

  async stats(): Promise<EventBusStats> {
    return {
      ...this.totals(),
      subscribers: this.index.size,
      logSize: await this.options.log.size(),
      head: await this.head(),
    };
  }

  /** Index keys in use (0 once every subscriber left); exposed for leak checks. */
  indexKeyCount(): number {
    return this.index.keyCount;
  }

  async close(): Promise<void> {
    this.detachTransport();
    await this.options.transport.close();
  }
}

/** The organisation an event is addressed to (or to a match inside), if any. */
function organizationOf(target: EventTarget): string | undefined {
  return target.kind === "organization" || target.kind === "metadata" ? target.organizationId : undefined;
}
