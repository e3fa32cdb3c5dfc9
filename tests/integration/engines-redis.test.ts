/**
 * The Redis engines run the same conformance suites as the in-memory ones,
 * against a real redis-server on loopback; each test gets keys of its own.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe } from "vitest";

import type { RedisClient } from "~/server/events/redis-client";
import { RedisReplayLog } from "~/server/events/replay-log-redis";
import { RedisTransport } from "~/server/events/transport-redis";
import { replayLogConformance } from "../conformance/replay-log.suite";
import { transportConformance } from "../conformance/transport.suite";
import { hasRedis, redisServerPath, startRedis, type RedisServer } from "../helpers/redis";

if (!hasRedis) {
  console.warn(`[engines-redis] SKIPPED: no redis-server at ${redisServerPath} (apt-get install -y redis-server)`);
}

let server: RedisServer;
const clients: Redis[] = [];
let n = 0;
const prefix = () => `{t3-live-events-test-${process.pid}-${++n}}:`;
const client = (): RedisClient => {
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  clients.push(redis);
  return redis;
};

describe.skipIf(!hasRedis)("Redis engines", () => {
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const redis of clients) redis.disconnect();
    await server?.stop();
  });

  replayLogConformance("redis", async (retention) => new RedisReplayLog(client(), { ...retention, prefix: prefix() }));

  transportConformance("redis", async () => {
    const keys = prefix();
    const a = new RedisTransport(client(), client(), { prefix: keys });
    const b = new RedisTransport(client(), client(), { prefix: keys });
    await Promise.all([a.ready, b.ready]);
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  });
});
