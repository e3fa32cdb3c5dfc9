/**
 * Delivery targets and the single rule that decides who may receive what.
 * The subscriber index (delivery.ts) and the replay log both route through
 * `isAddressedTo`, so live delivery and replay can never disagree.
 */
import { z } from "zod";

import { eventCatalog, type EventAudience, type EventName } from "./catalog";
import { EventTargetError } from "./errors";

const idSchema = z.string().min(1).max(128);
const metadataMatch = z
  .record(z.string().min(1).max(64), z.string().max(256))
  .refine((m) => Object.keys(m).length > 0 && Object.keys(m).length <= 8, "metadata match needs 1 to 8 keys");

export const eventTargetSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("user"), userId: idSchema }),
  z.object({ kind: z.literal("session"), sessionId: idSchema }),
  z.object({ kind: z.literal("organization"), organizationId: idSchema }),
  z.object({
    kind: z.literal("metadata"),
    match: metadataMatch,
    /** Restricts the match to one organisation's members (required for organisation events). */
    organizationId: idSchema.optional(),
  }),
  z.object({ kind: z.literal("broadcast") }),
]);

export type EventTarget = z.infer<typeof eventTargetSchema>;
export type EventTargetKind = EventTarget["kind"];

/** What the server knows about a subscriber; never taken from client input. */
export interface SubscriberIdentity {
  userId: string;
  /** This tab's session (`<sign-in session>.<tab id>`), or the sign-in session when the client sent no tab id. */
  sessionId: string;
  /** The Auth.js sign-in session: a session target naming it reaches every tab of that sign-in. */
  signInSessionId: string;
  organizationIds: readonly string[];
  /** Server-derived attributes a metadata target matches on (role, org roles). */
  metadata: Readonly<Record<string, string>>;
}

const allowedTargets: Record<Exclude<EventAudience, "system">, (t: EventTarget) => boolean> = {
  user: (t) => t.kind === "user" || t.kind === "session" || t.kind === "metadata",
  organization: (t) => t.kind === "organization" || (t.kind === "metadata" && !!t.organizationId),
  broadcast: () => true,
};

/** Throws EventTargetError unless `target` is well formed and fits the event's audience. */
export function assertTargetFitsAudience(name: EventName, target: unknown): EventTarget {
  const parsed = eventTargetSchema.safeParse(target);
  if (!parsed.success) {
    throw new EventTargetError(`invalid target for ${name}: ${z.prettifyError(parsed.error)}`);
  }
  const audience = eventCatalog[name].audience;
  if (audience === "system") {
    throw new EventTargetError(`${name} is a system event and cannot be emitted`);
  }
  if (!allowedTargets[audience](parsed.data)) {
    throw new EventTargetError(
      `${name} has audience "${audience}" and cannot be sent to a "${parsed.data.kind}" target` +
        (audience === "organization" ? " (address it to an organisation)" : ""),
    );
  }
  return parsed.data;
}

export function matchesMetadata(
  metadata: Readonly<Record<string, string>>,
  match: Readonly<Record<string, string>>,
): boolean {
  for (const key in match) {
    if (metadata[key] !== match[key]) return false;
  }
  return true;
}

export function isAddressedTo(target: EventTarget, subscriber: SubscriberIdentity): boolean {
  switch (target.kind) {
    case "broadcast":
      return true;
    case "user":
      return subscriber.userId === target.userId;
    case "session":
      return subscriber.sessionId === target.sessionId || subscriber.signInSessionId === target.sessionId;
    case "organization":
      return subscriber.organizationIds.includes(target.organizationId);
    case "metadata":
      return (
        (!target.organizationId || subscriber.organizationIds.includes(target.organizationId)) &&
        matchesMetadata(subscriber.metadata, target.match)
      );
  }
}
