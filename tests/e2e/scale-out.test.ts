/**
 * Two production instances on one Redis and one PostgreSQL, behind nginx:
 * what is emitted on one reaches subscribers on both, a cursor from one
 * resumes on the other, Redis faults have a defined outcome, and a killed
 * instance's clients carry on through the other. Real redis-server,
 * PostgreSQL and nginx on loopback; `.ci/run` installs and starts them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { TRPCClientError } from "@trpc/client";

import type { AppRouter } from "~/server/api/root";
import { signIn, signOut, startApp, type AppServer } from "../helpers/app-server";
import { hasNginx, nginxPath, startNginx, type Nginx } from "../helpers/nginx";
import { freePort } from "../helpers/ports";
import { createTestDatabase, testDatabaseAdminUrl } from "../helpers/postgres";
import { hasRedis, redisServerPath, startRedis, type RedisServer } from "../helpers/redis";
import { live, messages, trpcClient, until } from "./http-client";

const adminUrl = testDatabaseAdminUrl;
const missing = [
  !hasRedis && `redis-server (${redisServerPath})`,
  !hasNginx && `nginx (${nginxPath})`,
  !adminUrl && "TEST_DATABASE_URL (two instances need PostgreSQL)",
].filter(Boolean);
if (missing.length > 0) console.warn(`[scale-out] SKIPPED: needs ${missing.join(", ")}; .ci/run provides them`);

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let databaseUrl: string;
let redis: RedisServer;
let a: AppServer;
let b: AppServer;
let nginx: Nginx;
let cookie: string;
const PER_USER = 5;

const instanceEnv = () => ({
  DATABASE_URL: databaseUrl,
  REDIS_URL: redis.url,
  EVENTS_PING_INTERVAL_MS: "500",
  EVENTS_RECONNECT_AFTER_INACTIVITY_MS: "3000",
  EVENTS_MAX_CONNECTIONS_PER_USER: String(PER_USER),
  ESCROW_JOB_INTERVAL_MS: "0",
  LOG_LEVEL: "warn",
});
const clientOf = (server: { baseUrl?: string; url?: string }) =>
  trpcClient(cookie, { url: server.baseUrl ?? server.url }).client;
const send = (server: AppServer, message: string) =>
  clientOf(server).notification.send.mutate({ target: { kind: "self" }, message });

describe.skipIf(missing.length > 0)("many instances on Redis", () => {
  beforeAll(async () => {
    database = await createTestDatabase("scale");
    databaseUrl = database.url;
    redis = await startRedis();
    a = await startApp({ build: false, env: instanceEnv() });
    b = await startApp({ build: false, env: instanceEnv() });
    nginx = await startNginx([a.port, b.port]);
    cookie = await signIn(a.baseUrl, "alice@acme.test");
  });

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    await database?.drop();
  });

  it("an event emitted on either instance reaches subscribers on both, in one order; a cursor from one resumes on the other", async () => {
    const onA = live(clientOf(a), { names: ["notification.created"] });
    const onB = live(clientOf(b), { names: ["notification.created"] });
    await Promise.all([onA.ready(), onB.ready()]);
    for (let i = 1; i <= 10; i++) await send(i % 2 ? a : b, `both ${i}`);
    await until(() => onA.events().length >= 10 && onB.events().length >= 10, "10 events on both instances");
    const expected = Array.from({ length: 10 }, (_, i) => `both ${i + 1}`);
    expect(messages(onA.received)).toEqual(expected);
    expect(messages(onB.received)).toEqual(expected);
    expect(onA.events().map((r) => r.id)).toEqual(onB.events().map((r) => r.id));

    const cursor = onA.events().at(-1)!.id;
    onA.unsubscribe();
    onB.unsubscribe();
    for (let i = 1; i <= 3; i++) await send(a, `missed ${i}`);
    const resumed = live(clientOf(b), { names: ["notification.created"], lastEventId: cursor });
    await resumed.ready();
    expect(resumed.count("system.gap")).toBe(0);
    expect(messages(resumed.received)).toEqual(["missed 1", "missed 2", "missed 3"]);
    resumed.unsubscribe();
  });

  it("Redis down: an emit fails loudly; Redis back (empty): instances carry on by themselves, and older cursors get an explicit gap", async () => {
    const onB = live(clientOf(b), { names: ["notification.created"] });
    await onB.ready();
    await send(a, "before the outage");
    await onB.waitFor("notification.created");
    const cursor = onB.events().at(-1)!.id;

    await redis.kill();
    const refused = await send(a, "during the outage").then(
      () => null,
      (error: TRPCClientError<AppRouter>) => error,
    );
    expect(refused?.data?.code).toBe("SERVICE_UNAVAILABLE");
    expect(refused?.message).toMatch(/nothing was recorded/);

    await redis.start();
    // The instances reconnect by themselves; the first emits may still find the connection down.
    let sent = false;
    for (let attempt = 0; attempt < 40 && !sent; attempt++) {
      sent = await send(a, "after the outage").then(
        () => true,
        () => false,
      );
      if (!sent) await new Promise((r) => setTimeout(r, 250));
    }
    expect(sent).toBe(true);
    await until(() => messages(onB.received).includes("after the outage"), "the event on the other instance");
    expect(messages(onB.received)).toEqual(["before the outage", "after the outage"]);
    onB.unsubscribe();

    // Redis lost its history: a cursor from before says so instead of skipping silently.
    const resumed = live(clientOf(a), { names: ["notification.created"], lastEventId: cursor });
    await resumed.waitFor("system.gap");
    expect(resumed.received[0]!.event).toMatchObject({ name: "system.gap", data: { reason: "unknown_cursor" } });
    resumed.unsubscribe();
  });

  it("presence and stats show the whole cluster; signing out on one instance ends the sign-in's stream on the other at once", async () => {
    const bobCookie = await signIn(a.baseUrl, "bob@acme.test");
    const bobOnB = live(trpcClient(bobCookie, { url: b.baseUrl }).client, { names: ["notification.created"] });
    await bobOnB.ready();
    const bobOnline = async () => {
      const orgs = await clientOf(a).events.presence.query();
      return orgs.flatMap((org) => org.online).find((member) => member.name === "Bob")?.connections ?? 0;
    };
    await until(async () => (await bobOnline()) === 1, "Bob online, seen from the other instance");

    await until(async () => {
      const { instances } = await clientOf(a).events.stats.query();
      return (
        instances?.length === 2 &&
        instances.some((i) => (i.info as { totalConnections?: number }).totalConnections === 1)
      );
    }, "both instances in the stats, B holding Bob's stream");

    const signedOutAt = Date.now();
    await signOut(a.baseUrl, bobCookie);
    await until(() => bobOnB.errors.length > 0, "Bob's stream on the other instance to end", 5_000);
    expect(bobOnB.errors[0]!.data?.code).toBe("UNAUTHORIZED");
    expect(Date.now() - signedOutAt).toBeLessThan(3_000); // not the 60 s re-authorisation interval
    bobOnB.unsubscribe();
    await until(async () => (await bobOnline()) === 0, "Bob offline");
  });

  it("the per-user connection cap counts every instance's streams", async () => {
    const carolCookie = await signIn(a.baseUrl, "carol@globex.test");
    const on = (server: AppServer) => live(trpcClient(carolCookie, { url: server.baseUrl }).client);
    const held = [on(a), on(a), on(a), on(b), on(b)];
    for (const stream of held) await stream.ready();
    const over = on(a);
    await until(() => over.errors.length > 0, "the refusal");
    expect(over.errors[0]!.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(over.errors[0]!.message).toMatch(/per-user limit, across instances/);
    for (const stream of [...held, over]) stream.unsubscribe();
  });

  it("an instance killed with SIGKILL: its client reconnects through nginx to the other and resumes with no loss", async () => {
    const viaProxy = live(clientOf(nginx), { names: ["notification.created"] });
    await viaProxy.ready();
    const adminOn = async (server: AppServer) => (await clientOf(server).events.connections.query()).length;
    const [onA, onB] = await Promise.all([adminOn(a), adminOn(b)]);
    expect(onA + onB).toBe(1);
    const [victim, survivor] = onA === 1 ? [a, b] : [b, a];

    const total = 20;
    const run = `kill-${Date.now()}`;
    for (let i = 1; i <= total; i++) {
      await send(survivor, `${run} #${i}`);
      if (i === 5) victim.process.kill("SIGKILL");
      await new Promise((r) => setTimeout(r, 100));
    }
    await until(
      () => messages(viaProxy.received).filter((m) => m.startsWith(run)).length >= total,
      "every event",
      20_000,
    );
    expect(messages(viaProxy.received).filter((m) => m.startsWith(run))).toEqual(
      Array.from({ length: total }, (_, i) => `${run} #${i + 1}`),
    );
    expect(viaProxy.count("system.ready")).toBeGreaterThanOrEqual(2); // it did reconnect
    viaProxy.unsubscribe();
  });

  it("Redis unreachable at start: the instance exits with an error that names REDIS_URL", async () => {
    const closed = await freePort();
    const started = startApp({ build: false, env: { ...instanceEnv(), REDIS_URL: `redis://127.0.0.1:${closed}` } });
    await expect(started).rejects.toThrow(new RegExp(`REDIS_URL=redis://127\\.0\\.0\\.1:${closed}`));
  });
});
