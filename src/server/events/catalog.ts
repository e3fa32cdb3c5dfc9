/**
 * The catalog's machinery: what an event definition is, the layer's own
 * events (presence and `system.*`), and the types every part of the layer
 * derives from the whole catalog. The app's events are declared in
 * src/server/domain/catalog.ts, which registers their types here (`Register`)
 * and hands the catalog's value to the layer (`EventLayerConfig.catalog`).
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
  /**
   * True: delivered only to subscriptions that name it (`names`), never to
   * one that asked for every event. For telemetry a few pages want (the
   * operator console's samples), which would otherwise reach every stream
   * its audience covers.
   */
  optIn?: true;
  /** Tiny fields the server adds (e.g. displayAmount); never sent by emitters. */
  derived?: {
    schema: TDerived;
    compute: (payload: z.output<TPayload>) => z.output<TDerived>;
  };
}

export function defineEvent<
  TPayload extends z.ZodObject,
  TDerived extends z.ZodObject = z.ZodObject<Record<never, never>>,
>(definition: EventDefinition<TPayload, TDerived>) {
  return definition;
}

/** Field schemas events share. */
export const fields = {
  id: z.string().min(1).max(64),
  /** Trimmed, non-empty, at most `max` characters. */
  shortText: (max: number) => z.string().trim().min(1).max(max),
};
const { id } = fields;

/** The layer's own events: presence (its announcer emits them) and what it writes into every stream. */
export const coreEvents = {
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

/**
 * Where the app registers its events' types, once:
 *
 *   declare module "~/server/events/catalog" {
 *     interface Register { events: typeof appEvents }
 *   }
 *
 * Every name, payload and delivered type in the layer, its tRPC procedure and
 * React derives from it.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by the app's declaration
export interface Register {}

type AppEvents = Register extends { events: infer E extends Record<string, EventDefinition> }
  ? E
  : Record<never, never>;

export type EventCatalog = AppEvents & typeof coreEvents;
export type EventName = Extract<keyof EventCatalog, string>;
export type SystemEventName = {
  [N in EventName]: EventCatalog[N]["audience"] extends "system" ? N : never;
}[EventName];
/** Names that backend code may publish with `bus.emit`. */
export type EmittableEventName = Exclude<EventName, SystemEventName>;

// An event without derived fields adds none: an empty schema's output would let any field
// access compile (`event.data.anything`).
type DerivedOf<N extends EventName> =
  NonNullable<EventCatalog[N]["derived"]> extends { schema: infer S extends z.ZodObject }
    ? string extends keyof S["shape"] // the default, shapeless schema of an event without derived fields
      ? Record<never, never>
      : z.output<S>
    : Record<never, never>;

/** What `bus.emit(name, payload)` accepts. */
export type EventPayload<N extends EventName> = z.input<EventCatalog[N]["payload"]>;
/** What subscribers receive as `data`: the payload plus derived fields. */
export type EventData<N extends EventName> = z.output<EventCatalog[N]["payload"]> & DerivedOf<N>;

/** A catalog's value as the layer reads it. */
export type CatalogDefinitions = Readonly<Record<EventName, EventDefinition>>;

const replayedPredicates = new WeakMap<object, (name: EventName) => boolean>();

/** Whether a catalog keeps events of a name for replay (history), or only delivers them live (state). */
export function replayedIn(catalog: Readonly<Record<string, EventDefinition>>): (name: EventName) => boolean {
  let predicate = replayedPredicates.get(catalog);
  if (!predicate) {
    predicate = (name) => catalog[name]?.replayed !== false;
    replayedPredicates.set(catalog, predicate);
  }
  return predicate;
}

const optInPredicates = new WeakMap<object, (name: EventName) => boolean>();

/** Whether a catalog delivers events of a name only to subscriptions that name them. */
export function optInIn(catalog: Readonly<Record<string, EventDefinition>>): (name: EventName) => boolean {
  let predicate = optInPredicates.get(catalog);
  if (!predicate) {
    predicate = (name) => catalog[name]?.optIn === true;
    optInPredicates.set(catalog, predicate);
  }
  return predicate;
}

/**
 * The whole catalog (the app's events and the layer's own) with the helpers
 * the app's edges use: name checks, the tRPC input schema of a name, the
 * schema of delivered data. An app event may not reuse a core event's name.
 */
export function defineCatalog<E extends Record<string, EventDefinition>>(appEvents: E) {
  for (const name of Object.keys(appEvents)) {
    if (Object.hasOwn(coreEvents, name)) throw new Error(`${name} is one of the event layer's own events`);
  }
  const definitions = { ...appEvents, ...coreEvents };
  const byName = definitions as unknown as CatalogDefinitions;
  const names = Object.keys(definitions) as EventName[];
  const isEventName = (value: string): value is EventName => Object.hasOwn(definitions, value);
  return {
    definitions,
    names,
    /** Names that backend code may publish (not `system.*`). */
    emittableNames: names.filter((name): name is EmittableEventName => byName[name].audience !== "system"),
    isEventName,
    /** A name as procedure input, refused with the list of known names. */
    nameSchema: z.enum(names as [EventName, ...EventName[]], {
      error: (issue) => `unknown event name ${JSON.stringify(issue.input)}; known: ${names.join(", ")}`,
    }),
    /** The schema of `data` as delivered (payload plus derived fields). */
    deliveredDataSchema: (name: EventName): z.ZodObject => {
      const definition = byName[name];
      return definition.derived ? definition.payload.extend(definition.derived.schema.shape) : definition.payload;
    },
  };
}

export type Catalog = ReturnType<typeof defineCatalog>;
