/**
 * Messages between the instances of one deployment (Redis pub/sub on
 * REDIS_URL; nothing to do on the embedded default). Today: sign-ins that
 * ended, so every instance ends their open streams at once and forgets their
 * cached checks, not only the instance that handled the sign-out.
 *
 * Pub/sub is at most once: an instance cut off from Redis at that moment
 * misses the message, and falls back to the database check (every request
 * after AUTH_SESSION_CACHE_MS, every stream at its next re-authorisation).
 */
import { z } from "zod";

import { env } from "~/env";
import { logger } from "~/server/platform/logger";
import { runtime } from "~/server/runtime";

const controlMessage = z.object({
  type: z.literal("sign-ins.ended"),
  sessionIds: z.array(z.string().max(128)).max(10_000),
  reason: z.string().max(200),
  from: z.string(),
});

export type ControlMessage = Omit<z.infer<typeof controlMessage>, "from">;

const channel = () => `${env.REDIS_KEY_PREFIX}control`;

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

/** Calls `handler` for every message another instance publishes. */
export async function listenToControl(handler: (message: ControlMessage) => void): Promise<void> {
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
    handler({ type: parsed.type, sessionIds: parsed.sessionIds, reason: parsed.reason });
  });
  await subscriber.subscribe(channel());
}
