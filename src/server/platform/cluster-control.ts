/**
 * Messages between the instances of one deployment (Redis pub/sub on
 * REDIS_URL; nothing to do on the embedded default):
 * - sign-ins that ended, so every instance ends their open streams at once
 *   and forgets their cached checks, not only the instance that handled the
 *   sign-out;
 * - requests one instance asks of the others (the operator console's
 *   connections table): each answers by pushing its reply onto a list keyed
 *   by the request, which the asker reads until every instance answered or
 *   its timeout passed.
 *
 * Pub/sub is at most once: an instance cut off from Redis at that moment
 * misses the message, and falls back to the database check (every request
 * after AUTH_SESSION_CACHE_MS, every stream at its next re-authorisation).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";

import { env } from "~/env";
import { logger } from "~/server/platform/logger";
import { runtime } from "~/server/runtime";

const signInsEnded = z.object({
  type: z.literal("sign-ins.ended"),
  sessionIds: z.array(z.string().max(128)).max(10_000),
  reason: z.string().max(200),
  from: z.string(),
});
const request = z.object({
  type: z.literal("request"),
  name: z.string().max(64),
  requestId: z.uuid(),
  body: z.unknown(),
  from: z.string(),
});
const controlMessage = z.discriminatedUnion("type", [signInsEnded, request]);
const reply = z.object({ from: z.string(), body: z.unknown() });

export type ControlMessage = Omit<z.infer<typeof signInsEnded>, "from">;

/** What an instance answers another's request with (JSON). */
export type RequestHandler = (body: unknown) => Promise<unknown>;

export interface ControlHandlers {
  signInsEnded: (message: ControlMessage) => void;
  /** Requests this instance answers, by name. */
  requests: Readonly<Record<string, RequestHandler>>;
}

/** A reply is kept this long for its asker, then expires. */
const REPLY_TTL_MS = 10_000;
const POLL_MS = 20;

const channel = () => `${env.REDIS_KEY_PREFIX}control`;
const replyKey = (requestId: string) => `${env.REDIS_KEY_PREFIX}control-reply:${requestId}`;

/** Tells the other instances; resolves without waiting for them. */
export async function publishControl(message: ControlMessage): Promise<void> {
  const { redis, instanceId } = runtime();
  if (!redis) return;
  try {
    await redis.publish(channel(), JSON.stringify({ ...message, from: instanceId }));
  } catch (error) {
    logger.warn(
      { event: "control.publish_failed", type: message.type, message: (error as Error).message },
      "could not tell the other instances; they fall back to the database check",
    );
  }
}

/**
 * Asks every other instance `name` with `body`; resolves with the replies
 * that arrived once `expected` did or `timeoutMs` passed (none without Redis).
 */
async function askInstances(
  name: string,
  body: unknown,
  options: { expected: number; timeoutMs: number },
): Promise<z.infer<typeof reply>[]> {
  const { redis, instanceId } = runtime();
  if (!redis || options.expected <= 0) return [];
  const requestId = randomUUID();
  const key = replyKey(requestId);
  await redis.publish(channel(), JSON.stringify({ type: "request", name, requestId, body, from: instanceId }));
  const deadline = Date.now() + options.timeoutMs;
  let raw: string[] = [];
  for (;;) {
    raw = await redis.lrange(key, 0, -1);
    if (raw.length >= options.expected || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  await redis.del(key).catch(() => 0);
  return raw.flatMap((entry) => {
    try {
      return [reply.parse(JSON.parse(entry))];
    } catch {
      return [];
    }
  });
}

/** The other live instances (Redis heartbeats); none on the embedded default, or when Redis cannot say. */
export async function otherInstanceIds(): Promise<string[]> {
  const { events, instanceId } = runtime();
  if (!events.instances) return [];
  try {
    return (await events.instances.list()).map((i) => i.instanceId).filter((id) => id !== instanceId);
  } catch {
    return [];
  }
}

/**
 * Asks every other live instance `name`; resolves with the answers that
 * match `answer`, and the instances that did not answer in time (`missing`).
 */
export async function askOtherInstances<T>(
  name: string,
  body: unknown,
  answer: z.ZodType<T>,
  timeoutMs: number,
): Promise<{ answers: { from: string; body: T }[]; missing: number }> {
  const others = await otherInstanceIds();
  if (others.length === 0) return { answers: [], missing: 0 };
  const replies = await askInstances(name, body, { expected: others.length, timeoutMs });
  const answers: { from: string; body: T }[] = [];
  for (const reply of replies) {
    const parsed = answer.safeParse(reply.body);
    if (parsed.success && others.includes(reply.from)) answers.push({ from: reply.from, body: parsed.data });
  }
  const answered = new Set(answers.map((a) => a.from));
  return { answers, missing: others.filter((id) => !answered.has(id)).length };
}

/** Calls the handlers for every message another instance publishes. */
export async function listenToControl(handlers: ControlHandlers): Promise<void> {
  const { redis, instanceId } = runtime();
  if (!redis) return;
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
  subscriber.on("error", () => {});
  subscriber.on("message", (_channel: string, raw: string) => {
    let parsed: z.infer<typeof controlMessage>;
    try {
      parsed = controlMessage.parse(JSON.parse(raw));
    } catch {
      logger.warn({ event: "control.invalid" }, "ignored an invalid control message");
      return;
    }
    if (parsed.from === instanceId) return;
    if (parsed.type === "sign-ins.ended") {
      handlers.signInsEnded({ type: parsed.type, sessionIds: parsed.sessionIds, reason: parsed.reason });
      return;
    }
    const handler = handlers.requests[parsed.name];
    if (!handler) return;
    const key = replyKey(parsed.requestId);
    handler(parsed.body)
      .then((body) =>
        redis
          .multi()
          .rpush(key, JSON.stringify({ from: instanceId, body }))
          .pexpire(key, REPLY_TTL_MS)
          .exec(),
      )
      .catch((error: unknown) =>
        logger.warn({ event: "control.request_failed", name: parsed.name, err: error }, "could not answer a request"),
      );
  });
  await subscriber.subscribe(channel());
}
