/**
 * Delivery targets and the single rule that decides who may receive what.
 * The subscriber index (subscriber-index.ts) and the replay log both route through
 * `isAddressedTo`, so live delivery and replay can never disagree.
 */
import { z } from "zod";

import type { EventAudience, EventName } from "./catalog";
import { EventTargetError } from "./errors";
import { splitSessionId, type SubscriberIdentity } from "./identity";

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

const allowedTargets: Record<Exclude<EventAudience, "system">, (t: EventTarget) => boolean> = {
  user: (t) => t.kind === "user" || t.kind === "session" || t.kind === "metadata",
  organization: (t) => t.kind === "organization" || (t.kind === "metadata" && !!t.organizationId),
  broadcast: () => true,
};

/** Throws EventTargetError unless `target` is well formed and fits the event's audience. */
export function assertTargetFitsAudience(name: EventName, audience: EventAudience, target: unknown): EventTarget {
  const parsed = eventTargetSchema.safeParse(target);
  if (!parsed.success) {
    throw new EventTargetError(`invalid target for ${name}: ${z.prettifyError(parsed.error)}`);
  }
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
      return (
        subscriber.sessionId === target.sessionId ||
        subscriber.signInSessionId === target.sessionId ||
        (subscriber.allTabs === true && splitSessionId(target.sessionId).signInSessionId === subscriber.signInSessionId)
      );
    case "organization":
      return subscriber.organizationIds.includes(target.organizationId);
    case "metadata":
      return (
        (!target.organizationId || subscriber.organizationIds.includes(target.organizationId)) &&
        matchesMetadata(subscriber.metadata, target.match)
      );
  }
}

/**
 * The history an event is kept in: each organisation, each user, each
 * sign-in (all its tabs), broadcast, and server-side metadata matches keep their own, so one
 * audience's volume never evicts another's (replay-log.ts).
 */
export type Audience = "broadcast" | "metadata" | `org:${string}` | `user:${string}` | `session:${string}`;

export function audienceOf(target: EventTarget): Audience {
  switch (target.kind) {
    case "broadcast":
      return "broadcast";
    case "user":
      return `user:${target.userId}`;
    case "session":
      // Every tab of a sign-in shares its history: a stream shared by the tabs reads them all.
      return `session:${splitSessionId(target.sessionId).signInSessionId}`;
    case "organization":
      return `org:${target.organizationId}`;
    case "metadata":
      return target.organizationId ? `org:${target.organizationId}` : "metadata";
  }
}

/** Every audience whose events `isAddressedTo` may let through to this subscriber. */
export function audiencesOf(subscriber: SubscriberIdentity): Audience[] {
  const audiences: Audience[] = [
    "broadcast",
    "metadata",
    `user:${subscriber.userId}`,
    `session:${subscriber.signInSessionId}`,
  ];
  for (const organizationId of subscriber.organizationIds) audiences.push(`org:${organizationId}`);
  return audiences;
}
