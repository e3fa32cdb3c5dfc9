/**
 * The transport through real HTTP: the production build served by `next
 * start`, tRPC's own client (httpSubscriptionLink over the `eventsource`
 * package), a real TCP drop between them.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { type EventSource } from "eventsource";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import type { LiveEvent } from "~/server/events";
import { signPayload, SIGNATURE_HEADER } from "~/server/domain/payments";
import { waitUntil } from "../helpers/wait";
import { baseUrl, cookieEventSource, live, messages, signIn, trpcClient, until, type Received } from "./http-client";

/** A loopback TCP proxy whose connections can be cut, like a flaky network or a proxy restart. */
async function tcpProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((downstream) => {
    const upstream = connect(targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [downstream, upstream];
    pairs.add(pair);
    for (const s of pair) {
      sockets.add(s);
      s.on("close", () => {
        sockets.delete(s);
        // One side gone (closed or aborted): so is the other, as through a real path. A frozen
        // pair is no longer in `pairs`: it stays half-dead until `cut`.
        if (pairs.delete(pair)) for (const other of pair) other.destroy();
      });
      s.on("error", () => s.destroy());
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    /** Existing connections go silent without closing (a half-dead network path); new ones work. */
    freeze: () => {
      for (const [downstream, upstream] of pairs) {
        upstream.unpipe(downstream);
        downstream.unpipe(upstream);
        upstream.pause();
      }
      pairs.clear();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => r());
      }),
  };
}

let aliceCookie: string;
let carolCookie: string;

beforeAll(async () => {
  aliceCookie = await signIn("alice@acme.test");
  carolCookie = await signIn("carol@globex.test");
});

describe("SSE transport with tRPC's client", () => {
  it("streams text/event-stream with anti-buffering headers", async () => {
    const controller = new AbortController();
    const input = encodeURIComponent(JSON.stringify(superjson.serialize({})));
    const res = await fetch(`${baseUrl()}/api/trpc/events.onEvent?input=${input}`, {
      headers: { cookie: aliceCookie },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    expect(res.headers.get("cache-control")).toMatch(/no-cache/);
    controller.abort();
  });

  it("connects, says when it is live, and receives an event emitted by a mutation", async () => {
    const { client } = trpcClient(aliceCookie);
    const sub = live(client);
    await sub.ready();
    const sent = await client.notification.send.mutate({ target: { kind: "self" }, message: "over http" });
    await sub.waitFor("notification.created");
    expect(sub.events()[0]).toMatchObject({
      id: sent.id,
      event: { name: "notification.created", data: { message: "over http" } },
    });
    sub.unsubscribe();
  });

  it("refuses a subscription without a session: UNAUTHORIZED", async () => {
    const { client } = trpcClient(null);
    const sub = live(client);
    await until(() => sub.errors.length > 0, "an error");
    expect(sub.errors[0]!.data?.code).toBe("UNAUTHORIZED");
    expect(sub.received).toEqual([]);
    sub.unsubscribe();
  });

  it("rejects bad input over the wire with BAD_REQUEST", async () => {
    const { client } = trpcClient(aliceCookie);
    const sub = live(client, { lastEventId: "not-an-id" });
    await until(() => sub.errors.length > 0, "an error");
    expect(sub.errors[0]!.data?.code).toBe("BAD_REQUEST");
    expect(sub.errors[0]!.message).toMatch(/malformed/);
    sub.unsubscribe();
  });

  it("sends heartbeats while idle", async () => {
    const { client, counters } = trpcClient(aliceCookie);
    const sub = live(client);
    await sub.ready();
    const before = counters.pings;
    const started = Date.now();
    await until(() => counters.pings - before >= 2, "two heartbeats", inject("pingIntervalMs") * 10);
    // Two pings cannot arrive sooner than one interval apart (after the first).
    expect(Date.now() - started).toBeGreaterThanOrEqual(inject("pingIntervalMs"));
    sub.unsubscribe();
  });

  it("reconnects after a dropped connection and resumes exactly (tRPC link, lastEventId)", async () => {
    const proxy = await tcpProxy(Number(new URL(baseUrl()).port));
    const { client: direct } = trpcClient(aliceCookie);
    const { client, counters } = trpcClient(aliceCookie, { subscriptionUrl: proxy.url });
    const sub = live(client, { names: ["notification.created"] });
    await sub.ready();
    for (const m of ["a1", "a2"]) await direct.notification.send.mutate({ target: { kind: "self" }, message: m });
    await sub.waitFor("notification.created", 2);

    proxy.cut();
    // Emitted while the client is disconnected: must arrive after the reconnect.
    for (const m of ["b1", "b2", "b3"]) await direct.notification.send.mutate({ target: { kind: "self" }, message: m });
    await sub.ready(2);
    await direct.notification.send.mutate({ target: { kind: "self" }, message: "c1" });
    await sub.waitFor("notification.created", 6);

    expect(counters.opens).toBeGreaterThanOrEqual(2);
    expect(messages(sub.received)).toEqual(["a1", "a2", "b1", "b2", "b3", "c1"]);
    const secondReady = sub.received.filter((r) => r.event.name === "system.ready")[1]!;
    expect(secondReady.event.data).toMatchObject({ replayed: 3 });
    sub.unsubscribe();
    await proxy.close();
  });

  it("notices a silent dead connection by inactivity, reconnects and resumes exactly", async () => {
    const proxy = await tcpProxy(Number(new URL(baseUrl()).port));
    const { client: direct } = trpcClient(aliceCookie);
    const { client } = trpcClient(aliceCookie, { subscriptionUrl: proxy.url });
    const sub = live(client, { names: ["notification.created"] });
    await sub.ready();
    await direct.notification.send.mutate({ target: { kind: "self" }, message: "before" });
    await sub.waitFor("notification.created", 1);

    proxy.freeze(); // no FIN, no RST: only the missing heartbeats tell
    await direct.notification.send.mutate({ target: { kind: "self" }, message: "during" });
    // reconnectAfterInactivityMs is 3 s in this server's configuration.
    await sub.ready(2);
    await sub.waitFor("notification.created", 2);
    expect(messages(sub.received)).toEqual(["before", "during"]);
    sub.unsubscribe();
    proxy.cut();
    await proxy.close();
  });

  it("a plain EventSource resumes from the Last-Event-ID header after a drop", async () => {
    const proxy = await tcpProxy(Number(new URL(baseUrl()).port));
    const { client: direct } = trpcClient(aliceCookie);
    const { EventSource: CookieEventSource } = cookieEventSource(aliceCookie);
    const input = encodeURIComponent(JSON.stringify(superjson.serialize({ names: ["notification.created"] })));
    const es: EventSource = new CookieEventSource(`${proxy.url}/api/trpc/events.onEvent?input=${input}`);
    const frames: { id: string; name: string; message?: string }[] = [];
    es.addEventListener("message", (e) => {
      const event = superjson.deserialize<LiveEvent>(
        JSON.parse(e.data as string) as Parameters<typeof superjson.deserialize>[0],
      );
      frames.push({
        id: e.lastEventId,
        name: event.name,
        message: event.name === "notification.created" ? event.data.message : undefined,
      });
    });
    const readies = () => frames.filter((f) => f.name === "system.ready").length;
    await until(() => readies() === 1, "first ready");
    await direct.notification.send.mutate({ target: { kind: "self" }, message: "h1" });
    await until(() => frames.some((f) => f.message === "h1"), "h1");
    proxy.cut();
    await direct.notification.send.mutate({ target: { kind: "self" }, message: "h2" });
    await until(() => readies() === 2, "ready after reconnect");
    await until(() => frames.some((f) => f.message === "h2"), "h2");
    es.close();
    expect(frames.filter((f) => f.message).map((f) => f.message)).toEqual(["h1", "h2"]);
    await proxy.close();
  });

  it("a disconnect frees the registry entry", async () => {
    const { client: admin } = trpcClient(await signIn("olivia@platform.test"));
    const { client } = trpcClient(carolCookie);
    // Earlier tests' streams (all alice's) close asynchronously: count from a settled registry.
    const aliceId = (await trpcClient(aliceCookie).client.notification.recipients.query()).find(
      (p) => p.email === "alice@acme.test",
    )!.id;
    await waitUntil(
      async () => !(await admin.events.stats.query()).platform!.clientsByUser[aliceId],
      "earlier streams to close",
      {
        intervalMs: 50,
      },
    );
    const baseline = (await admin.events.stats.query()).totalConnections;
    const sub = live(client);
    await sub.ready();
    expect((await admin.events.stats.query()).totalConnections).toBe(baseline + 1);
    const carolId = (await client.notification.recipients.query())[0]!.id;
    expect((await admin.events.stats.query()).platform!.clientsByUser[carolId]).toBeGreaterThanOrEqual(1);
    sub.unsubscribe();
    let stats = await admin.events.stats.query();
    await waitUntil(
      async () => (stats = await admin.events.stats.query()).totalConnections === baseline,
      "the registry entry to go",
      {
        intervalMs: 100,
      },
    );
    expect(stats.totalConnections).toBe(baseline);
    // The fast path's own counters are part of the stats.
    expect(stats.platform!.sse).toMatchObject({ slowConsumerDisconnects: 0, stalledDisconnects: 0 });
    expect(stats.platform!.sse?.open).toBeGreaterThanOrEqual(0);
    expect(stats.platform!.clientsByUser[carolId]).toBeUndefined();
  });

  it("the fast path and tRPC's stock handler deliver the same sequence, ids included, live and on resume", async () => {
    const { client: direct } = trpcClient(aliceCookie);
    const openBefore = (await direct.events.stats.query()).totalConnections;
    const cursor = (await direct.notification.send.mutate({ target: { kind: "self" }, message: "cursor" })).id;
    await direct.notification.send.mutate({ target: { kind: "self" }, message: "missed" });
    const subscribers = (["fast", "trpc"] as const).map((transport) => {
      const { client } = trpcClient(aliceCookie, { transport });
      return live(client, { names: ["notification.created"], lastEventId: cursor });
    });
    for (const sub of subscribers) await sub.ready();
    for (const m of ["one", "two", "three"])
      await direct.notification.send.mutate({ target: { kind: "self" }, message: m });
    for (const sub of subscribers) await sub.waitFor("notification.created", 4);
    const [fast, stock] = subscribers.map((sub) => sub.events()) as [Received[], Received[]];
    expect(messages(fast)).toEqual(["missed", "one", "two", "three"]);
    expect(fast).toEqual(stock);
    const readies = subscribers.map((sub) => sub.received.find((r) => r.event.name === "system.ready")!.event);
    expect(readies[0]!.data).toMatchObject({ resumedFrom: cursor, replayed: 1 });
    expect(readies[1]!.data).toMatchObject({ resumedFrom: cursor, replayed: 1 });
    for (const sub of subscribers) sub.unsubscribe();
    // Leave no stream behind for the next test's counts.
    await waitUntil(
      async () => (await direct.events.stats.query()).totalConnections === openBefore,
      "both streams to close",
      {
        intervalMs: 50,
      },
    );
  });

  it("the fast path answers refused requests byte for byte as tRPC's stock handler", async () => {
    const read = async (headers: Record<string, string>, input: object) => {
      const controller = new AbortController();
      const query = encodeURIComponent(JSON.stringify(superjson.serialize(input)));
      const res = await fetch(`${baseUrl()}/api/trpc/events.onEvent?input=${query}`, {
        headers,
        signal: controller.signal,
      });
      const text = await res.text();
      return { status: res.status, type: res.headers.get("content-type"), text };
    };
    const cases: [Record<string, string>, object][] = [
      [{}, {}],
      [{ cookie: aliceCookie }, { lastEventId: "yesterday" }],
      [{ cookie: aliceCookie }, { names: ["order.deleted"] }],
    ];
    for (const [headers, input] of cases) {
      const fast = await read(headers, input);
      const stock = await read({ ...headers, "x-events-transport": "trpc" }, input);
      expect(fast).toEqual(stock);
      expect(fast.text).toMatch(/^event: connected\n[\s\S]*event: serialized-error\n/);
    }
  });

  it("the payments webhook verifies its timestamped signature over HTTP, emits once per delivery, to the order's organisation", async () => {
    const { client } = trpcClient(aliceCookie);
    const order = await client.order.create.mutate({ title: "Webhook order", totalCents: 1_999, currency: "USD" });
    const sub = live(client, { names: ["payment.succeeded"] });
    await sub.ready();
    const body = JSON.stringify({
      id: `evt_${order.id}`,
      type: "payment.succeeded",
      orderId: order.id,
      amount: 1_999,
      currency: "USD",
      providerRef: "ch_1",
    });
    const post = (headers: Record<string, string>) =>
      fetch(`${baseUrl()}/api/webhooks/payments`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ [SIGNATURE_HEADER]: signPayload("not-the-secret-at-all", body) })).status).toBe(401);
    const huge = JSON.stringify({
      id: "evt_huge",
      type: "payment.failed",
      orderId: order.id,
      errorCode: "x".repeat(70_000),
    });
    const tooLarge = await fetch(`${baseUrl()}/api/webhooks/payments`, {
      method: "POST",
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signPayload(inject("webhookSecret"), huge) },
      body: huge,
    });
    expect(tooLarge.status).toBe(413);
    // A capture of a real delivery, replayed after the tolerance: refused.
    const stale = signPayload(inject("webhookSecret"), body, Math.floor(Date.now() / 1000) - 600);
    expect((await post({ [SIGNATURE_HEADER]: stale })).status).toBe(401);
    const signature = signPayload(inject("webhookSecret"), body);
    const ok = await post({ [SIGNATURE_HEADER]: signature });
    expect(ok.status).toBe(202);
    // The same delivery again (a provider retry, or a replay within the tolerance): the first answer, no event.
    const repeat = await post({ [SIGNATURE_HEADER]: signature });
    expect(repeat.status).toBe(202);
    expect(await repeat.json()).toMatchObject({
      duplicate: true,
      eventId: ((await ok.json()) as { eventId: string }).eventId,
    });
    await sub.waitFor("payment.succeeded");
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.events()).toHaveLength(1);
    expect(sub.events()[0]!.event.data).toMatchObject({ orderId: order.id, displayAmount: "$19.99" });
    sub.unsubscribe();
  });
});

afterAll(() => {
  // Give closed EventSources a moment so the server logs no stray errors.
  return new Promise((r) => setTimeout(r, 100));
});
