/**
 * Two production instances on one Redis and one PostgreSQL, behind nginx:
 * what is emitted on one reaches subscribers on both, a cursor from one
 * resumes on the other, Redis faults have a defined outcome, and a killed
 * instance's clients carry on through the other. Real redis-server,
 * PostgreSQL and nginx on loopback; `.ci/run` installs and starts them.
 */
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";

import type { TRPCClientError } from "@trpc/client";
import type { Page } from "playwright-core";

import type { AppRouter } from "~/server/api/root";
import { signIn, signOut, startApp, type AppServer } from "../helpers/app-server";
import { cookiesFor, hasChromium, launchChromium } from "../helpers/chromium";
import { clusterMissing, startCluster, stopCluster, type Cluster } from "../helpers/cluster";
import type { Nginx } from "../helpers/nginx";
import { freePort } from "../helpers/ports";
import type { RedisServer } from "../helpers/redis";
import { live, messages, trpcClient, until } from "./http-client";

if (clusterMissing.length > 0)
  console.warn(`[scale-out] SKIPPED: needs ${clusterMissing.join(", ")}; .ci/run provides them`);

let database: Cluster["database"];
let redis: RedisServer;
let a: AppServer;
let b: AppServer;
let nginx: Nginx;
let cookie: string;
const PER_USER = 5;
const METRICS_TOKEN = "scale-out-metrics-token-0123456789";
/** The proxy cuts a stream silent this long; the instances' 500 ms heartbeats must keep it open. */
const PROXY_READ_TIMEOUT_S = 3;

const envAt = (where: { databaseUrl: string; redisUrl: string }) => ({
  DATABASE_URL: where.databaseUrl,
  REDIS_URL: where.redisUrl,
  EVENTS_PING_INTERVAL_MS: "500",
  EVENTS_RECONNECT_AFTER_INACTIVITY_MS: "3000",
  EVENTS_MAX_CONNECTIONS_PER_USER: String(PER_USER),
  ESCROW_JOB_INTERVAL_MS: "0",
  LOG_LEVEL: "warn",
  METRICS_TOKEN: METRICS_TOKEN,
});
const instanceEnv = () => envAt({ databaseUrl: database.url, redisUrl: redis.url });
const clientOf = (server: { baseUrl?: string; url?: string }) =>
  trpcClient(cookie, { url: server.baseUrl ?? server.url }).client;
const send = (server: AppServer, message: string) =>
  clientOf(server).notification.send.mutate({ target: { kind: "self" }, message });

/** The platform operator's console on `server` in Chromium, live (null without Chromium). */
async function operatorConsole(server: AppServer): Promise<Page | null> {
  if (!hasChromium) {
    console.warn("[scale-out] console checks SKIPPED: needs Chromium");
    return null;
  }
  const browser = await launchChromium();
  onTestFinished(() => browser.close());
  const context = await browser.newContext();
  await context.addCookies(cookiesFor(await signIn(server.baseUrl, "olivia@platform.test"), server.baseUrl));
  const page = await context.newPage();
  await page.goto(`${server.baseUrl}/admin`);
  await page.waitForSelector('[data-testid="console-status"]:text("live")', { timeout: 15_000 });
  return page;
}

describe.skipIf(clusterMissing.length > 0)("many instances on Redis", () => {
  beforeAll(async () => {
    ({ database, redis, a, b, nginx } = await startCluster({
      name: "scale",
      env: envAt,
      proxyReadTimeoutSeconds: PROXY_READ_TIMEOUT_S,
    }));
    cookie = await signIn(a.baseUrl, "alice@acme.test");
  });

  afterAll(() => stopCluster({ database, redis, a, b, nginx }));

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

  it("Redis down: an emit fails loudly; Redis back (empty, a new epoch): instances carry on by themselves, open streams and older cursors get an explicit gap", async () => {
    const onB = live(clientOf(b), { names: ["notification.created"] });
    onTestFinished(() => onB.unsubscribe());
    await onB.ready();
    await send(a, "before the outage");
    await onB.waitFor("notification.created");
    const cursor = onB.events().at(-1)!.id;
    const consolePage = await operatorConsole(a);

    await redis.kill();
    const refused = await send(a, "during the outage").then(
      () => null,
      (error: TRPCClientError<AppRouter>) => error,
    );
    expect(refused?.data?.code).toBe("SERVICE_UNAVAILABLE");
    expect(refused?.message).toMatch(/nothing was recorded/);
    // The console's samples travel through Redis: they stop, and the page says why.
    await consolePage?.waitForSelector('[data-testid="console-banner"]:has-text("cannot reach Redis")', {
      timeout: 30_000,
    });

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
    // An empty Redis is a new log (a new epoch): the open stream on the other instance is told it may
    // have missed events (system.gap, unknown_cursor) instead of carrying on as if nothing happened,
    // and then receives the new log's events.
    await until(() => onB.count("system.gap") === 1, "the gap on the other instance", 15_000);
    expect(onB.received.find((r) => r.event.name === "system.gap")!.event).toMatchObject({
      data: { reason: "unknown_cursor", lastEventId: cursor },
    });
    await send(a, "after the gap");
    await until(() => messages(onB.received).includes("after the gap"), "the next event on the other instance");
    expect(messages(onB.received)[0]).toBe("before the outage");
    expect(messages(onB.received).at(-1)).toBe("after the gap");
    expect(onB.errors).toEqual([]);
    onB.unsubscribe();

    // Redis lost its history: a cursor from before says so instead of skipping silently.
    const resumed = live(clientOf(a), { names: ["notification.created"], lastEventId: cursor });
    await resumed.waitFor("system.gap");
    expect(resumed.received[0]!.event).toMatchObject({ name: "system.gap", data: { reason: "unknown_cursor" } });
    resumed.unsubscribe();
  });

  it("two tenants across two instances: each admin's stats, connections, presence and actions reach their own organisation only", async () => {
    const carolCookie = await signIn(b.baseUrl, "carol@globex.test");
    const carol = (server: AppServer) => trpcClient(carolCookie, { url: server.baseUrl }).client;
    const carolId = (await carol(b).notification.recipients.query()).find((p) => p.email === "carol@globex.test")!.id;
    // Carol holds a stream on each instance.
    const onA = live(carol(a));
    const onB = live(carol(b));
    await Promise.all([onA.ready(), onB.ready()]);
    try {
      await until(
        async () =>
          (await carol(a).events.presence.query())[0]!.online.find((m) => m.name === "Carol")?.connections === 2,
        "Carol online twice in Globex, seen from A",
      );
      for (const server of [a, b]) {
        const seenByAlice = JSON.stringify([
          await clientOf(server).events.stats.query(),
          await clientOf(server).events.connections.query(),
          await clientOf(server).events.presence.query(),
        ]);
        expect(seenByAlice).not.toContain("Carol");
        expect(seenByAlice).not.toContain("Globex");
        expect(seenByAlice).not.toContain(carolId);
        await expect(clientOf(server).admin.revokeUser.mutate({ userId: carolId })).rejects.toMatchObject({
          data: { code: "NOT_FOUND" },
        });
      }
      // Carol, Globex's admin, sees her own streams and nothing of Acme.
      const seenByCarol = JSON.stringify(await carol(b).events.connections.query());
      expect(seenByCarol).toContain("Carol");
      expect(seenByCarol).not.toContain("Acme");
      expect(onA.errors).toEqual([]);
      expect(onB.errors).toEqual([]);
    } finally {
      onA.unsubscribe();
      onB.unsubscribe();
    }
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

    const operator = trpcClient(await signIn(a.baseUrl, "olivia@platform.test"), { url: a.baseUrl }).client;
    await until(async () => {
      const instances = (await operator.events.stats.query()).platform?.instances;
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

  it("through nginx: events from either instance arrive promptly, organisations stay apart, and heartbeats keep an idle stream past the proxy's timeout", async () => {
    const viaProxy = live(clientOf(nginx), { names: ["notification.created"] });
    const carolCookie = await signIn(b.baseUrl, "carol@globex.test");
    const carolOnB = live(trpcClient(carolCookie, { url: b.baseUrl }).client, { names: ["notification.created"] });
    await Promise.all([viaProxy.ready(), carolOnB.ready()]);

    const latencies: number[] = [];
    for (let i = 1; i <= 30; i++) {
      const run = `prompt ${i}`;
      const sentAt = performance.now();
      await clientOf(i % 2 ? a : b).notification.send.mutate({ target: { kind: "organization" }, message: run });
      await until(() => messages(viaProxy.received).includes(run), run, 5_000, 1);
      latencies.push(performance.now() - sentAt);
    }
    latencies.sort((x, y) => x - y);
    const p50 = latencies[Math.floor(latencies.length / 2)]!;
    const max = latencies.at(-1)!;
    console.log(
      `[scale-out] emit → receive through nginx, either instance (30 events): p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    expect(p50).toBeLessThan(250); // nothing buffered by the proxy
    // Acme's organisation events, emitted on A and B, never reach Globex's Carol on B.
    expect(messages(carolOnB.received)).toEqual([]);

    // Idle for longer than the proxy's read timeout: the heartbeats keep the same stream open.
    await new Promise((r) => setTimeout(r, (PROXY_READ_TIMEOUT_S + 2) * 1_000));
    expect(viaProxy.count("system.ready")).toBe(1);
    expect(viaProxy.errors).toEqual([]);
    await send(a, "after the idle spell");
    await until(() => messages(viaProxy.received).includes("after the idle spell"), "an event after the idle spell");
    expect(viaProxy.count("system.ready")).toBe(1);
    viaProxy.unsubscribe();
    carolOnB.unsubscribe();
  });

  it("each instance serves Prometheus metrics behind its token: streams, deliveries, emits, replays, gaps, Redis errors, event-loop lag", async () => {
    const metrics = (server: AppServer, token?: string) =>
      fetch(`${server.baseUrl}/api/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await metrics(a)).status).toBe(401);
    expect((await metrics(a, "wrong-token-wrong-token-wrong")).status).toBe(401);

    const onA = live(clientOf(a), { names: ["notification.created"] });
    onTestFinished(() => onA.unsubscribe());
    await onA.ready();
    await send(b, "counted");
    await onA.waitFor("notification.created");
    const response = await metrics(a, METRICS_TOKEN);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();
    const value = (name: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line === undefined ? undefined : Number(line.split(" ").at(-1));
    };
    expect(value("live_events_open_streams")).toBeGreaterThanOrEqual(1);
    expect(value("live_events_deliveries_total")).toBeGreaterThanOrEqual(1);
    expect(value("live_events_emits_total")).toBeGreaterThanOrEqual(1);
    expect(value("live_events_replay_resumes_total")).toBeGreaterThanOrEqual(0);
    expect(text).toMatch(/live_events_replay_gaps_total\{reason="unknown_cursor"\} [1-9]/); // the Redis flush above
    expect(text).toMatch(/live_events_redis_errors_total\{kind="connection_lost"\} [1-9]/); // the outage above
    expect(value("live_events_slow_consumer_disconnects_total")).toBe(0);
    expect(value("nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    onA.unsubscribe();
  });

  it("the operator console's samples come from every instance; an organisation's admin gets only their organisation's, summing to exactly what was emitted", async () => {
    const olivia = trpcClient(await signIn(a.baseUrl, "olivia@platform.test"), { url: a.baseUrl }).client;
    const platform = live(olivia, { names: ["console.sample"] });
    const admin = live(clientOf(a), { names: ["console.sample"] }); // Alice owns Acme
    const member = live(clientOf(b), { names: ["notification.created"] }); // Acme has a stream on B too
    const carol = trpcClient(await signIn(b.baseUrl, "carol@globex.test"), { url: b.baseUrl }).client;
    const globex = live(carol, { names: ["notification.created"] });
    await Promise.all([platform.ready(), admin.ready(), member.ready(), globex.ready()]);
    const instancesOf = (r: typeof platform) =>
      new Set(r.events().flatMap((e) => (e.event.name === "console.sample" ? [e.event.data.instanceId] : [])));
    await until(() => instancesOf(platform).size === 2 && instancesOf(admin).size === 2, "samples from both instances");

    const acmeId = (await clientOf(a).notification.recipients.query())[0]!.organization.id;
    const samples = () => admin.events().flatMap((e) => (e.event.name === "console.sample" ? [e.event.data] : []));
    expect(samples().every((s) => s.scope === "organization" && s.organizationId === acmeId)).toBe(true);
    expect(platform.events().every((e) => e.event.name === "console.sample" && e.event.data.scope === "platform")).toBe(
      true,
    );

    // Quiet for a second, then K events to Acme from both instances: the samples after add up to exactly K.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const since = Date.now();
    const K = 6;
    for (let i = 0; i < K; i++) {
      await clientOf(i % 2 ? b : a).notification.send.mutate({ target: { kind: "organization" }, message: `k ${i}` });
    }
    await carol.notification.send.mutate({ target: { kind: "organization" }, message: "not acme's" });
    const emittedSince = () =>
      samples()
        .filter((s) => s.at > since)
        .reduce((sum, s) => sum + s.emitted, 0);
    await until(() => emittedSince() === K, `${K} emits in Acme's samples`);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(emittedSince()).toBe(K);

    // A console opened now on A starts with both instances' last minutes, and lists the events
    // both published (the odd ones were emitted on B), Acme's only for Acme's admin.
    const firstPaint = await olivia.admin.console.query();
    expect(new Set(firstPaint.history.platform!.map((s) => s.instanceId)).size).toBe(2);
    expect(firstPaint.historyMissingInstances).toBe(0);
    const acmeFirstPaint = await clientOf(a).admin.console.query();
    const acmeHistory = acmeFirstPaint.history[acmeId]!;
    expect(new Set(acmeHistory.map((s) => s.instanceId)).size).toBe(2);
    expect(acmeHistory.filter((s) => s.at > since).reduce((sum, s) => sum + s.emitted, 0)).toBe(K);
    const activity = await clientOf(a).admin.activity.query();
    expect([activity.instances, activity.missingInstances]).toEqual([2, 0]);
    const listed = activity.recent.map((e) => (e.data as { message?: string } | null)?.message);
    expect(listed.slice(0, K).sort()).toEqual(Array.from({ length: K }, (_, i) => `k ${i}`));
    expect(listed).not.toContain("not acme's");
    for (const stream of [platform, admin, member, globex]) stream.unsubscribe();
  });

  it("the console's connections table holds every instance's streams in the viewer's scope; a stream on the other instance is ended from it and resumes", async () => {
    const carol = trpcClient(await signIn(b.baseUrl, "carol@globex.test"), { url: b.baseUrl }).client;
    const aliceOnA = live(clientOf(a), { names: ["notification.created"] });
    const aliceOnB = live(clientOf(b), { names: ["notification.created"] });
    const carolOnB = live(carol, { names: ["notification.created"] });
    await Promise.all([aliceOnA.ready(), aliceOnB.ready(), carolOnB.ready()]);
    const olivia = trpcClient(await signIn(a.baseUrl, "olivia@platform.test"), { url: a.baseUrl }).client;
    const servedBy = (await olivia.admin.console.query()).instanceId;

    const all = await olivia.admin.connections.query({ pageSize: 100 });
    expect([all.instances, all.missingInstances]).toEqual([2, 0]);
    expect(new Set(all.rows.map((r) => r.instanceId)).size).toBe(2);
    expect(all.rows.map((r) => r.user.name)).toEqual(expect.arrayContaining(["Alice", "Carol"]));

    const acme = await clientOf(a).admin.connections.query({ pageSize: 100 });
    expect(acme.rows.every((r) => r.organizations.join() === "Acme")).toBe(true);
    const remote = acme.rows.find((r) => r.instanceId !== servedBy && r.user.name === "Alice");
    expect(remote).toBeDefined();
    // Another tenant's admin cannot end it, wherever it is: the same answer as for no such stream.
    await expect(carol.admin.endStream.mutate({ connectionId: remote!.connectionId })).rejects.toMatchObject({
      data: { code: "NOT_FOUND" },
    });
    expect(await clientOf(a).admin.endStream.mutate({ connectionId: remote!.connectionId })).toEqual({ ended: true });
    await send(a, "after the end");
    await aliceOnB.ready(2);
    await until(() => messages(aliceOnB.received).includes("after the end"), "the event after the end, on B");
    expect(messages(aliceOnB.received).filter((m) => m === "after the end")).toHaveLength(1);
    expect(aliceOnB.errors).toEqual([]);
    for (const stream of [aliceOnA, aliceOnB, carolOnB]) stream.unsubscribe();
  });

  it("an instance killed with SIGKILL: its client reconnects through nginx to the other and resumes with no loss", async () => {
    // A tab id of its own, so the instance holding this stream can be told from any other's.
    const tabId = `kill-${Date.now()}`;
    const viaProxy = live(trpcClient(cookie, { url: nginx.url, headers: { "x-tab-id": tabId } }).client, {
      names: ["notification.created"],
    });
    await viaProxy.ready();
    const holds = async (server: AppServer) =>
      (await clientOf(server).events.connections.query()).filter((c) => c.sessionId.endsWith(`.${tabId}`)).length;
    let counts = [0, 0];
    await until(async () => {
      counts = await Promise.all([holds(a), holds(b)]);
      return (counts[0] ?? 0) + (counts[1] ?? 0) === 1;
    }, "the proxied stream on one instance");
    const [victim, survivor] = counts[0] === 1 ? [a, b] : [b, a];

    // The operator's console on the survivor, showing both instances before the kill.
    const consolePage = await operatorConsole(survivor);
    if (consolePage) {
      await until(
        async () => (await consolePage.$$('[data-testid="console-instances"] tbody tr')).length === 2,
        "both instances in the console",
      );
      expect(await consolePage.textContent("body")).toContain("Healthy: every instance reporting");
    }

    const total = 20;
    const run = `kill-${Date.now()}`;
    let killed: Promise<unknown> = Promise.resolve();
    for (let i = 1; i <= total; i++) {
      await send(survivor, `${run} #${i}`);
      if (i === 5) {
        killed = once(victim.process, "exit");
        victim.process.kill("SIGKILL");
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await killed;
    if (consolePage) {
      await consolePage.waitForSelector('[data-testid="console-banner"]:has-text("stopped heartbeating")', {
        timeout: 15_000,
      });
    }
    await until(
      () => messages(viaProxy.received).filter((m) => m.startsWith(run)).length >= total,
      "every event",
      20_000,
    );
    expect(messages(viaProxy.received).filter((m) => m.startsWith(run))).toEqual(
      Array.from({ length: total }, (_, i) => `${run} #${i + 1}`),
    );
    // It did reconnect. A resumed subscription's system.ready follows its replay: when the
    // reconnect comes after the last send, every event is in before the second ready.
    await viaProxy.ready(2).catch(() => undefined);
    expect(
      viaProxy.count("system.ready"),
      JSON.stringify({
        counts,
        victim: victim.port,
        survivor: survivor.port,
        received: viaProxy.received.map((r) => [r.id, r.event.name]),
        errors: viaProxy.errors.map((e) => e.message),
        survivorHolds: await holds(survivor),
      }),
    ).toBeGreaterThanOrEqual(2);
    viaProxy.unsubscribe();
  });

  it("two instances on one database without Redis: the second is refused at start, naming REDIS_URL (their event ids would clash)", async () => {
    const alone = { ...instanceEnv(), REDIS_URL: undefined };
    const first = await startApp({ build: false, env: alone });
    try {
      await expect(startApp({ build: false, env: alone })).rejects.toThrow(/several instances need REDIS_URL/);
    } finally {
      await first.stop();
    }
    // The lock goes with the process: the next one starts.
    const next = await startApp({ build: false, env: alone });
    await next.stop();
  });

  it("Redis unreachable at start: the instance exits with an error that names REDIS_URL", async () => {
    const closed = await freePort();
    const started = startApp({ build: false, env: { ...instanceEnv(), REDIS_URL: `redis://127.0.0.1:${closed}` } });
    await expect(started).rejects.toThrow(new RegExp(`REDIS_URL=redis://127\\.0\\.0\\.1:${closed}`));
  });
});
