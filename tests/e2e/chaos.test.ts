/**
 * Faults across a deployment of two production instances, one persistent
 * Redis, one PostgreSQL and nginx, bounded in count and time, on loopback:
 *
 * - chaos: numbered events are emitted on both instances while clients drop
 *   and resume, one instance is killed (SIGKILL) and restarted, and Redis is
 *   killed and restarted; at the end every subscriber holds every event whose
 *   emit succeeded, exactly once, in emit order;
 * - a SIGTERM drain: the streams of the stopping instance move to the other
 *   one through nginx with nothing lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { signIn, startApp, type AppServer } from "../helpers/app-server";
import { clusterMissing, startCluster, stopCluster, type Cluster } from "../helpers/cluster";
import type { Nginx } from "../helpers/nginx";
import type { RedisServer } from "../helpers/redis";
import { live, messages, trpcClient, until, type Received } from "./http-client";

if (clusterMissing.length > 0)
  console.warn(`[chaos] SKIPPED: needs ${clusterMissing.join(", ")}; .ci/run provides them`);

let database: Cluster["database"];
let redis: RedisServer;
let a: AppServer;
let b: AppServer;
let nginx: Nginx;
let cookie: string;

const envAt = (where: { databaseUrl: string; redisUrl: string }) => ({
  DATABASE_URL: where.databaseUrl,
  REDIS_URL: where.redisUrl,
  EVENTS_PING_INTERVAL_MS: "500",
  EVENTS_RECONNECT_AFTER_INACTIVITY_MS: "3000",
  EVENTS_MAX_CONNECTIONS_PER_USER: "50",
  // The run emits faster than a user may; the limits have their own tests.
  RATE_LIMIT_EMITS_PER_USER: "0",
  RATE_LIMIT_EMITS_PER_ORGANIZATION: "0",
  RATE_LIMIT_STREAM_OPENS_PER_IP: "0",
  ESCROW_JOB_INTERVAL_MS: "0",
  LOG_LEVEL: "error",
});
const instanceEnv = () => envAt({ databaseUrl: database.url, redisUrl: redis.url });
// The app's own reconnect (backoff with jitter), as a page has it: a proxy's 502 mid-deploy is retried.
const clientOf = (url: string) => trpcClient(cookie, { url, backoff: true }).client;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client that can drop its stream and resume from the last id it saw, as a page reconnecting does. */
function resumer(url: () => string) {
  const incarnations: ReturnType<typeof live>[] = [];
  const all = (): Received[] => incarnations.flatMap((s) => s.received);
  const open = () => {
    const last = all().at(-1)?.id ?? null;
    incarnations.push(live(clientOf(url()), { names: ["notification.created"], lastEventId: last }));
  };
  open();
  return {
    all,
    ready: () => incarnations[0]!.ready(),
    drop() {
      incarnations.at(-1)!.unsubscribe();
      open();
    },
    gaps: () => all().filter((r) => r.event.name === "system.gap").length,
    close: () => incarnations.at(-1)!.unsubscribe(),
  };
}

describe.skipIf(clusterMissing.length > 0)("faults across instances", () => {
  beforeAll(async () => {
    ({ database, redis, a, b, nginx } = await startCluster({ name: "chaos", env: envAt, persistentRedis: true }));
    cookie = await signIn(a.baseUrl, "alice@acme.test");
  });

  afterAll(() => stopCluster({ database, redis, a, b, nginx }));

  it("SIGTERM drain: the streams of the stopping instance move to the other one through nginx, with nothing lost", async () => {
    const viaProxy = [1, 2].map(() =>
      live(trpcClient(cookie, { url: nginx.url }).client, { names: ["notification.created"] }),
    );
    await Promise.all(viaProxy.map((s) => s.ready()));
    const held = async (server: AppServer) => (await clientOf(server.baseUrl).events.connections.query()).length;
    const [onA, onB] = await Promise.all([held(a), held(b)]);
    expect(onA + onB).toBe(2);
    const [stopping, staying] = onA >= onB ? [a, b] : [b, a];

    const run = `drain-${Date.now()}`;
    const total = 30;
    let stopped: Promise<number> | null = null;
    for (let i = 1; i <= total; i++) {
      await clientOf(staying.baseUrl).notification.send.mutate({ target: { kind: "self" }, message: `${run} #${i}` });
      if (i === 10) {
        const signalledAt = Date.now();
        stopped = stopping.stop("SIGTERM", 15_000).then(() => Date.now() - signalledAt);
      }
      await sleep(100);
    }
    const exitMs = await stopped!;
    await until(
      () => viaProxy.every((s) => messages(s.received).filter((m) => m.startsWith(run)).length >= total),
      "every event at both clients",
      20_000,
    ).catch((error: Error) => {
      for (const s of viaProxy)
        console.log(
          "[chaos] drain state",
          s.received.map((r) => `${r.event.name === "notification.created" ? r.event.data.message : r.event.name}`),
          s.errors.map((e) => e.message),
        );
      throw error;
    });
    const expected = Array.from({ length: total }, (_, i) => `${run} #${i + 1}`);
    for (const s of viaProxy) {
      expect(messages(s.received).filter((m) => m.startsWith(run))).toEqual(expected);
      expect(s.count("system.gap")).toBe(0);
    }
    // The streams the stopping instance held reconnected (to the other one: it is the only one left).
    const moved = stopping === a ? onA : onB;
    expect(moved).toBeGreaterThanOrEqual(1);
    // A resumed subscription's system.ready follows its replay, so it can come after the last event.
    const readies = () => viaProxy.reduce((n, s) => n + s.count("system.ready"), 0);
    await until(() => readies() >= 2 + moved, "the moved streams' system.ready").catch(() => undefined);
    expect(readies()).toBeGreaterThanOrEqual(2 + moved);
    expect(await held(staying)).toBe(2);
    console.log(
      `[chaos] SIGTERM drain: the stopping instance exited ${exitMs} ms after the signal; ${total} events, none lost`,
    );
    for (const s of viaProxy) s.unsubscribe();
    const port = stopping.port;
    if (stopping === a) a = await startApp({ build: false, port, env: instanceEnv() });
    else b = await startApp({ build: false, port, env: instanceEnv() });
  });

  it("chaos: events emitted on both instances while clients drop, an instance is killed and restarted, and Redis restarts; every acknowledged event reaches every subscriber once, in order", async () => {
    const subscribers = [
      resumer(() => a.baseUrl),
      resumer(() => b.baseUrl),
      resumer(() => nginx.url),
      resumer(() => nginx.url),
    ];
    await Promise.all(subscribers.map((s) => s.ready()));

    const run = `chaos-${Date.now()}`;
    const total = 160;
    const acknowledged: string[] = [];
    const failed: string[] = [];
    let restartA: Promise<void> | null = null;
    let restartRedis: Promise<void> | null = null;
    for (let i = 1; i <= total; i++) {
      const message = `${run} #${i}`;
      const via = i % 2 ? a : b;
      const ok = await clientOf(via.baseUrl)
        .notification.send.mutate({ target: { kind: "self" }, message })
        .then(
          () => true,
          () => false,
        );
      (ok ? acknowledged : failed).push(message);
      if (i % 12 === 0) subscribers[(i / 12) % subscribers.length]!.drop();
      if (i === 40) {
        a.process.kill("SIGKILL");
        const port = a.port;
        restartA = (async () => {
          await sleep(1_000);
          a = await startApp({ build: false, port, env: instanceEnv() });
        })();
      }
      if (i === 100) {
        // One fault after the other: the instance is back before Redis goes (an instance that
        // starts while Redis is down is refused, which tests/e2e/scale-out.test.ts covers).
        await restartA;
        await redis.kill();
        restartRedis = (async () => {
          await sleep(1_000);
          await redis.start();
        })();
      }
      await sleep(40);
    }
    await Promise.all([restartA, restartRedis]);
    // A few more after everything is back: each subscriber's tail is live again.
    for (let i = total + 1; i <= total + 10; i++) {
      const message = `${run} #${i}`;
      await clientOf((i % 2 ? a : b).baseUrl).notification.send.mutate({ target: { kind: "self" }, message });
      acknowledged.push(message);
    }

    const ours = (s: (typeof subscribers)[number]) => messages(s.all()).filter((m) => m.startsWith(`${run} `));
    await until(
      () => subscribers.every((s) => acknowledged.every((m) => ours(s).includes(m))),
      "every acknowledged event at every subscriber",
      45_000,
    );
    const emitOrder = (m: string) => Number(m.split("#")[1]);
    for (const s of subscribers) {
      const got = ours(s);
      expect(new Set(got).size).toBe(got.length); // exactly once
      expect(got.filter((m) => acknowledged.includes(m))).toEqual(acknowledged); // all of them, in emit order
      // Anything else is an emit that reported a failure after Redis had recorded it.
      expect(got.filter((m) => !acknowledged.includes(m)).every((m) => failed.includes(m))).toBe(true);
      expect([...got].sort((x, y) => emitOrder(x) - emitOrder(y))).toEqual(got);
      expect(s.gaps()).toBe(0); // Redis kept its history (append-only file)
      const ids = s
        .all()
        .filter((r) => r.event.name === "notification.created")
        .map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
    console.log(
      `[chaos] ${acknowledged.length} acknowledged events (${failed.length} emits refused while an instance or Redis was down) reached all ${subscribers.length} subscribers exactly once, in order, across ${Math.floor(total / 12)} client drops, an instance SIGKILL + restart and a Redis SIGKILL + restart`,
    );
    expect(acknowledged.length).toBeGreaterThan(100);
    for (const s of subscribers) s.close();
  });
});
