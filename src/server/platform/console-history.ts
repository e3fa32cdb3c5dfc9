/**
 * The operator console's look back, from every instance: the last 15
 * minutes of samples (each instance keeps its own, console-timeline.ts) and
 * the newest events each instance published, in the viewer's scope. On
 * Redis the serving instance asks the others (cluster-control.ts requests)
 * and merges their answers with its own; an instance that does not answer
 * within the timeout is left out, and the answer says how many did not.
 */
import { z } from "zod";

import type { AdminScope } from "~/server/auth/access";
import { eventCatalog } from "~/server/domain/catalog";
import type { EventEnvelope } from "~/server/events";
import { runtime } from "~/server/runtime";
import { askOtherInstances, type RequestHandler } from "./cluster-control";
import { ASK_TIMEOUT_MS, scopeSchema } from "./console-connections";
import { CONSOLE_WINDOW, RECENT_EVENTS, type ConsoleSample } from "./console-timeline";

const sampleSchema = eventCatalog["console.sample"].payload;
const historyReply = z.object({
  history: z.record(z.string().max(64), z.array(sampleSchema).max(CONSOLE_WINDOW)),
});

const recentSchema = z.object({
  /** The event's sealed id (what a stream would have sent). */
  id: z.string().max(200),
  name: z.string().max(100),
  targetKind: z.string().max(32),
  organizationId: z.string().max(64).nullable(),
  bytes: z.number().int().nonnegative(),
  emittedAt: z.string().max(40),
  /** The payload, only when the viewer would receive the event anyway. */
  data: z.record(z.string(), z.unknown()).nullable(),
});
type Recent = z.output<typeof recentSchema>;
const recentReply = z.object({ recent: z.array(recentSchema).max(RECENT_EVENTS) });

/** This instance's samples for the scope: the platform's for the operator, each administered organisation's. */
function historyHere(scope: AdminScope): Record<string, ConsoleSample[]> {
  const timeline = runtime().console;
  const history: Record<string, ConsoleSample[]> = {};
  if (scope.operator) history.platform = timeline.platformHistory();
  for (const id of scope.organizationIds) history[id] = timeline.organizationHistory(id);
  return history;
}

/** An event as the console lists it: a payload only to a viewer who could receive it. */
function recentView(envelope: EventEnvelope, scope: AdminScope): Recent {
  const target = envelope.target;
  const organizationId =
    target.kind === "organization" || target.kind === "metadata" ? target.organizationId : undefined;
  const readable =
    target.kind === "broadcast" ||
    (organizationId !== undefined && scope.organizationIds.includes(organizationId) && target.kind === "organization");
  return {
    id: runtime().events.cursors.seal(envelope.id),
    name: envelope.name,
    targetKind: target.kind,
    organizationId: organizationId ?? null,
    bytes: Buffer.byteLength(JSON.stringify(envelope.data)),
    emittedAt: envelope.emittedAt,
    data: readable ? envelope.data : null,
  };
}

/** The newest events this instance published in the scope, newest first. */
function recentHere(scope: AdminScope): Recent[] {
  const timeline = runtime().console;
  const envelopes = scope.operator
    ? timeline.recentEvents()
    : scope.organizationIds.flatMap((id) => timeline.recentEvents(id));
  return newestFirst(envelopes.map((envelope) => recentView(envelope, scope)));
}

/** Newest first, each event once (an event is listed by the instance that published it), at most RECENT_EVENTS. */
function newestFirst(events: Recent[]): Recent[] {
  const seen = new Set<string>();
  return events
    .sort((a, b) => (a.emittedAt < b.emittedAt ? 1 : a.emittedAt > b.emittedAt ? -1 : 0))
    .filter((event) => !seen.has(event.id) && seen.add(event.id))
    .slice(0, RECENT_EVENTS);
}

/** Every instance's last 15 minutes of samples in the scope, by scope key ("platform" or an organisation's id). */
export async function clusterHistory(scope: AdminScope) {
  const history = historyHere(scope);
  const { answers, missing } = await askOtherInstances("console.history", { scope }, historyReply, ASK_TIMEOUT_MS);
  for (const { body } of answers) {
    for (const [key, samples] of Object.entries(body.history)) {
      if (key in history) history[key]!.push(...(samples as ConsoleSample[]));
    }
  }
  return { history, instances: 1 + answers.length, missingInstances: missing };
}

/** The newest events every instance published in the scope, with each organisation named. */
export async function clusterRecent(scope: AdminScope, names: ReadonlyMap<string, string>) {
  const { answers, missing } = await askOtherInstances("console.recent", { scope }, recentReply, ASK_TIMEOUT_MS);
  const recent = newestFirst([...recentHere(scope), ...answers.flatMap(({ body }) => body.recent)]);
  return {
    recent: recent.map(({ targetKind, organizationId, ...event }) => ({
      ...event,
      audience:
        organizationId !== null
          ? `organisation ${names.get(organizationId) ?? "(unknown)"}`
          : targetKind === "broadcast"
            ? "everyone"
            : targetKind,
    })),
    instances: 1 + answers.length,
    missingInstances: missing,
  };
}

const scopeRequest = z.object({ scope: scopeSchema });

/** What this instance answers the others about its look back (the runtime listens with them). */
export const historyRequestHandlers: Readonly<Record<string, RequestHandler>> = {
  "console.history": async (body) => ({ history: historyHere(scopeRequest.parse(body).scope) }),
  "console.recent": async (body) => ({ recent: recentHere(scopeRequest.parse(body).scope) }),
};
