/**
 * The Redis engines run the same conformance suites as the in-memory ones,
 * against a real redis-server on loopback; each test gets keys of its own.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type EventEnvelope } from "~/server/events";
import { compareEventIds, epochOf } from "~/server/events/event-id";
import { RedisInstances } from "~/server/events/instances-redis";
import { createRedisEventLayer } from "~/server/events/layer";
import { silentLogger } from "~/server/events/logger";
import type { PresenceChange } from "~/server/events/presence";
import { RedisPresence } from "~/server/events/presence-redis";
import type { RedisClient } from "~/server/events/redis-client";
import { RedisReplayLog } from "~/server/events/replay-log-redis";
import { RedisTransport } from "~/server/events/transport-redis";
import { presenceConformance } from "../conformance/presence.suite";
import { replayLogConformance } from "../conformance/replay-log.suite";
import { transportConformance } from "../conformance/transport.suite";
import { identity, readSubscription, testEntitlements, testLayerConfig } from "../helpers/event-layer";
import { hasRedis, redisServerPath, startRedis, type RedisServer } from "../helpers/redis";
import { waitUntil } from "../helpers/wait";

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

  presenceConformance("redis", async (onChange) => {
    const keys = prefix();
    return new RedisPresence(
      client(),
      new RedisInstances(client(), { prefix: keys, instanceId: "i1" }),
      keys,
      onChange,
    );
  });

  describe("presence across instances", () => {
    it("counts every instance's connections, and a dead instance's members go offline once, announced by a survivor", async () => {
      const keys = prefix();
      const changes: { by: string; change: PresenceChange }[] = [];
      const node = (id: string) => {
        const instances = new RedisInstances(client(), { prefix: keys, instanceId: id, heartbeatMs: 50 });
        const presence = new RedisPresence(client(), instances, keys, (change) => changes.push({ by: id, change }));
        return { instances, presence };
      };
      const [a, b, c] = [node("a"), node("b"), node("c")];
      await Promise.all([a.instances.start(), b.instances.start(), c.instances.start()]);
      await a.presence.join("a1", { userId: "alice", userName: "Alice" }, ["acme"]);
      await b.presence.join("b1", { userId: "alice", userName: "Alice" }, ["acme"]);
      await b.presence.join("b2", { userId: "bob", userName: "Bob" }, ["acme"]);
      expect(await c.presence.online("acme")).toMatchObject([
        { userId: "alice", connections: 2 },
        { userId: "bob", connections: 1 },
      ]);
      expect(changes.map((c) => `${c.by}:${c.change.userId}:${c.change.online}`)).toEqual([
        "a:alice:true",
        "b:bob:true",
      ]);

      // b dies (no more heartbeats, nothing cleaned up): a and c both sweep, one of them announces.
      clearInterval((b.instances as unknown as { timer: NodeJS.Timeout }).timer); // as a SIGKILL would
      changes.length = 0;
      await new Promise((r) => setTimeout(r, 250));
      await Promise.all([a.instances.sweep(), c.instances.sweep()]);
      expect(await a.presence.online("acme")).toMatchObject([{ userId: "alice", connections: 1 }]);
      expect(changes.map((c) => `${c.change.userId}:${c.change.online}`)).toEqual(["bob:false"]);
      expect((await a.instances.list()).map((i) => i.instanceId)).toEqual(["a", "c"]);
      await Promise.all([a.instances.stop(), c.instances.stop()]);
    });
  });

  // Last: it restarts the shared redis-server.
  describe("epochs", () => {
    it("a Redis replaced by one whose clock is behind: old cursors get unknown_cursor (not 'ahead', not a skip); a live subscriber gets a gap, then the new log's events", async () => {
      const keys = prefix();
      const layer = createRedisEventLayer(testLayerConfig, testEntitlements, silentLogger, {
        client: client(),
        tail: client(),
        prefix: keys,
        instanceId: "epochs",
      });
      await layer.start();
      const sub = await readSubscription(layer, { identity: identity("bob"), names: ["payment.failed"] });
      await sub.waitFor((all) => all.length === 1, "system.ready");
      const emit = (orderId: string) =>
        layer.bus.emit("payment.failed", { orderId, errorCode: "x" }, { kind: "organization", organizationId: "acme" });

      // The old Redis's clock ran an hour ahead (its stream exists once an event was added).
      await emit("first");
      await sub.waitFor((all) => all.length === 2, "the first event");
      await client().call("XSETID", `${keys}stream`, `${Date.now() + 3_600_000}-0`);
      const old = await emit("old");
      expect(epochOf(old.id)).toMatch(/^[0-9a-z]+$/);
      await sub.waitFor((all) => all.length === 3, "the old log's event");

      // Replaced: the same address, no data, a clock an hour behind the old one.
      await server.kill();
      await server.start();
      let fresh: EventEnvelope | null = null;
      for (let attempt = 0; attempt < 100 && !fresh; attempt++) {
        fresh = await emit("new").catch(() => null);
        if (!fresh) await new Promise((r) => setTimeout(r, 50));
      }
      expect(epochOf(fresh!.id)).not.toBe(epochOf(old.id));
      expect(compareEventIds(fresh!.id, old.id)).toBeLessThan(0); // lower: only the epoch tells them apart

      // The tail notices the new log within its block interval (5 s), however its connection came back.
      await waitUntil(() => sub.received.some((i) => i.event.name === "system.gap"), "the gap", { timeoutMs: 15_000 });
      const newer = await emit("newer");
      await sub.waitFor((all) => all.some((i) => i.id === newer.id), "the new log's next event");
      expect(sub.names()).toEqual(["system.ready", "payment.failed", "payment.failed", "system.gap", "payment.failed"]);
      expect(sub.received[3]!.event).toMatchObject({ data: { reason: "unknown_cursor", lastEventId: old.id } });
      expect(await layer.bus.readAfter(old.id, identity("bob"), null)).toMatchObject({
        kind: "gap",
        reason: "unknown_cursor",
      });
      await sub.close();
      await layer.close();
    });
  });
});
