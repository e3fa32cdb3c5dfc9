/**
 * The SSE fast path's connection handling over real loopback sockets: the
 * hub, its connections and the subscription lifecycle, with limits small
 * enough to trip on purpose. (The full request path, with Auth.js and tRPC's
 * caller, is exercised over HTTP in tests/e2e.)
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";

import { openSubscription, type EventLayer } from "~/server/events";
import { connectedFrame, errorFrame, SSE_HEADERS } from "~/server/transport/frames";
import type { SseConnection } from "~/server/transport/sse-connection";
import { SseHub } from "~/server/transport/sse-hub";
import { identity, memoryLayer, recordingLogger } from "../helpers/event-layer";
import { sleep, waitUntil } from "../helpers/wait";

interface Setup {
  layer: EventLayer;
  hub: SseHub;
  /** Every connection the hub opened, in order. */
  opened: SseConnection[];
  url: string;
  close(): Promise<void>;
}

const servers: Setup[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function setup(options: { maxBacklogBytes?: number; stallTimeoutMs?: number; pingIntervalMs?: number } = {}) {
  const { logger } = recordingLogger();
  const layer = memoryLayer(
    {
      maxConnections: 20_000,
      maxConnectionsPerUser: 20_000,
      maxConnectionsPerOrganization: 20_000,
      retentionCount: 100_000,
      retentionTotal: 100_000,
    },
    logger,
  );
  const hub = new SseHub({
    pingIntervalMs: options.pingIntervalMs ?? 60_000,
    maxBacklogBytes: options.maxBacklogBytes ?? 1024 * 1024,
    stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
    formatError: (error) => errorFrame({ message: String(error) }),
    logger,
  });
  const opened: SseConnection[] = [];
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    res.writeHead(200, SSE_HEADERS);
    const connection = hub.open(res);
    opened.push(connection);
    connection.send(connectedFrame({}));
    const lastEventId = (req.headers["last-event-id"] as string | undefined) ?? null;
    void openSubscription(layer, {
      identity: identity(url.searchParams.get("user") ?? "bob"),
      names: ["notification.created"],
      lastEventId,
      sink: connection,
    }).then(
      (subscription) => connection.attach(subscription),
      (error: unknown) => connection.end(error),
    );
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const result: Setup = {
    layer,
    hub,
    opened,
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      hub.drain({ reconnectsPerSecond: 1_000, maxSpreadMs: 0 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(result);
  return result;
}

/** A raw SSE reader: ids of the data frames it has read, and control over reading. */
function reader(url: string, headers: Record<string, string> = {}) {
  const ids: string[] = [];
  let ready = false;
  let ended = false;
  let body = "";
  let response: IncomingMessage | undefined;
  const req = http.get(url, { headers: { accept: "text/event-stream", ...headers } }, (res) => {
    response = res;
    let buffer = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      body += chunk;
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf("\n\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 3);
        if (frame.includes("system.ready")) ready = true;
        else if (frame.includes("notification.created")) ids.push(/\nid: (\S+)/.exec(frame)![1]!);
      }
    });
    res.on("close", () => (ended = true));
    res.on("error", () => (ended = true));
  });
  req.on("error", () => (ended = true));
  return {
    ids,
    ready: () => waitUntil(() => ready, "system.ready"),
    ended: () => ended,
    /** Everything the stream carried, as text. */
    body: () => body,
    /** Stops reading: the socket's buffers fill and the server's backlog grows. */
    stopReading: () => {
      response?.pause();
      response?.socket.pause();
    },
    resumeReading: () => {
      response?.socket.resume();
      response?.resume();
    },
    destroy: () => req.destroy(),
  };
}

/** A stream read from a bare socket (the request written as given), once it is ready. */
async function rawStream(url: string, request: string) {
  const socket = net.connect(Number(new URL(url).port), "127.0.0.1");
  let received = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (received += chunk));
  socket.write(`${request}\r\n\r\n`);
  await waitUntil(() => received.includes("system.ready"), "system.ready");
  return { socket, received: () => received };
}

const note = (layer: EventLayer, i: number, size = 900) =>
  layer.bus.emit(
    "notification.created",
    { notificationId: `n${i}`, message: `${i} ${"x".repeat(size)}`, scope: "user", from: { userId: "u", name: null } },
    { kind: "user", userId: "bob" },
  );

describe("SSE hub over real sockets", () => {
  it("a slow consumer is disconnected past the backlog limit, then resumes from its last id without loss", async () => {
    const { layer, hub, url } = await setup({ maxBacklogBytes: 64 * 1024 });
    const slow = reader(url);
    await slow.ready();
    const emitted: string[] = [];
    for (let i = 0; i < 5; i++) emitted.push(layer.cursors.seal((await note(layer, i)).id));
    await waitUntil(() => slow.ids.length === 5, "the first events");
    slow.stopReading();
    // Enough to fill the kernel's socket buffers (several MB on loopback) and then the backlog.
    for (let i = 5; i < 60_000 && hub.stats().slowConsumerDisconnects === 0; i++) {
      emitted.push(layer.cursors.seal((await note(layer, i)).id));
      if (i % 200 === 0) await sleep(1);
    }
    expect(hub.stats().slowConsumerDisconnects).toBe(1);
    expect(layer.registry.size).toBe(0);
    // The client reads what reached it, sees the stream end, and resumes from the last id it read.
    slow.resumeReading();
    await waitUntil(() => slow.ended(), "the client to see the end of the stream");
    const lastRead = slow.ids.at(-1)!;
    expect(slow.ids).toEqual(emitted.slice(0, slow.ids.length));

    const resumed = reader(url, { "last-event-id": lastRead });
    await resumed.ready();
    const missed = emitted.slice(emitted.indexOf(lastRead) + 1);
    await waitUntil(() => resumed.ids.length >= missed.length, `${missed.length} missed events`);
    expect(resumed.ids).toEqual(missed);
    expect([...slow.ids, ...resumed.ids]).toEqual(emitted);
    resumed.destroy();
  });

  it("a socket that takes nothing for the stall timeout is closed and its registry entry freed", async () => {
    const { layer, hub, url } = await setup({
      stallTimeoutMs: 300,
      pingIntervalMs: 100,
      maxBacklogBytes: 512 * 1024 * 1024,
    });
    const dead = reader(url);
    await dead.ready();
    dead.stopReading();
    for (let i = 0; i < 60_000 && hub.stats().stalledDisconnects === 0; i++) {
      await note(layer, i);
      if (i % 500 === 0) await sleep(5);
    }
    await waitUntil(() => hub.stats().stalledDisconnects === 1, "the stalled socket to be closed");
    expect(hub.stats().slowConsumerDisconnects).toBe(0);
    await waitUntil(() => layer.registry.size === 0, "the registry entry to go");
    expect(hub.stats().open).toBe(0);
  });

  it("10,000 subscriptions opened and closed leave the registry, the index, presence, timers and listeners empty", async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const { layer, hub, url } = await setup();
    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    const open = (user: string) =>
      new Promise<http.ClientRequest>((resolve, reject) => {
        const req = http.get(`${url}?user=${user}`, { agent }, (res) => {
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => chunk.includes("system.ready") && resolve(req));
        });
        req.on("error", reject);
      });
    for (let batch = 0; batch < 20; batch++) {
      const requests = await Promise.all(Array.from({ length: 500 }, (_, i) => open(`u${(batch * 500 + i) % 700}`)));
      expect(layer.registry.size).toBe(500);
      for (const req of requests) req.destroy();
      await waitUntil(() => layer.registry.size === 0, "every connection to close");
    }
    agent.destroy();
    expect(layer.registry.stats()).toMatchObject({
      totalConnections: 0,
      connectionsOpened: 10_000,
      connectionsClosed: 10_000,
    });
    expect(layer.bus.indexKeyCount()).toBe(0);
    expect((await layer.bus.stats()).subscribers).toBe(0);
    expect(await layer.presence.online("acme")).toEqual([]);
    expect(layer.reauthorizer.userCount).toBe(0);
    expect(hub.stats().open).toBe(0);
    // The hub's one heartbeat timer; nothing per connection is left behind.
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBeLessThanOrEqual(
      timersBefore + 1,
    );
  });

  it("draining ends every stream with a reconnect hint, paced at the given rate, and stops taking new ones", async () => {
    const { layer, hub, url } = await setup();
    const clients = [reader(url), reader(url), reader(url)];
    for (const c of clients) await c.ready();
    expect(hub.drain({ reconnectsPerSecond: 10, maxSpreadMs: 60_000 })).toBe(3);
    await waitUntil(() => clients.every((c) => c.ended()), "every stream to end");
    expect(hub.isAccepting).toBe(false);
    expect(layer.registry.size).toBe(0);
    // Each is told when to return, 1/10 s apart (in the order they opened): `retry:` for any
    // EventSource, the event for the app's client.
    const hints = clients.map((c) => /retry: (\d+)\nevent: reconnect\ndata: \{"afterMs":(\d+)\}\n\n$/.exec(c.body()));
    expect(hints.map((h) => [Number(h?.[1]), Number(h?.[2])]).sort((a, b) => a[0]! - b[0]!)).toEqual([
      [500, 500],
      [600, 600],
      [700, 700],
    ]);
  });

  it("a drained fleet too large for the rate returns within the longest spread", async () => {
    const { hub, url } = await setup();
    const clients = Array.from({ length: 4 }, () => reader(url));
    for (const c of clients) await c.ready();
    hub.drain({ reconnectsPerSecond: 1, maxSpreadMs: 1_000 });
    await waitUntil(() => clients.every((c) => c.ended()), "every stream to end");
    const delays = clients.map((c) => Number(/retry: (\d+)/.exec(c.body())?.[1]));
    expect(delays.sort((a, b) => a - b)).toEqual([500, 750, 1_000, 1_250]);
  });

  it("a paced delay past a few seconds goes whole to the app's client, and held to 5.5 s in `retry:`, which an EventSource keeps", async () => {
    const { hub, url } = await setup();
    const clients = [reader(url), reader(url)];
    for (const c of clients) await c.ready();
    hub.drain({ reconnectsPerSecond: 0.1, maxSpreadMs: 60_000 });
    await waitUntil(() => clients.every((c) => c.ended()), "every stream to end");
    const hints = clients.map((c) => /retry: (\d+)\nevent: reconnect\ndata: \{"afterMs":(\d+)\}/.exec(c.body()));
    expect(hints.map((h) => [Number(h?.[1]), Number(h?.[2])]).sort((a, b) => a[1]! - b[1]!)).toEqual([
      [500, 500],
      [5_500, 10_500],
    ]);
  });

  it("frames are well-formed HTTP/1.1 chunks: a stream that ends leaves its kept-alive socket ready for the next request", async () => {
    const { layer, url } = await setup();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ body: string; reused: boolean }>((resolve, reject) => {
        const req = http.get(url, { agent, headers: { accept: "text/event-stream" } }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
            // Live: two events, then the server ends the stream (Node's parser checks every chunk).
            if (chunk.includes("system.ready")) void note(layer, 1).then(() => note(layer, 2));
            if ((body.match(/notification\.created/g) ?? []).length === 2)
              layer.registry.revoke({ userId: "bob" }, "test");
          });
          res.on("end", () => resolve({ body, reused: req.reusedSocket }));
          res.on("error", reject);
        });
        req.on("error", reject);
      });
    const first = await get();
    expect(first.body).toMatch(/^event: connected\n/);
    expect(first.body.match(/^data: .*notification\.created.*\nid: \S+\n\n\n/gm)).toHaveLength(2);
    const second = await get();
    expect(second.reused).toBe(true);
    expect(second.body.match(/notification\.created/g)).toHaveLength(2);
    agent.destroy();
  });

  it("a frame for a client that has gone (its end read, the response not yet closed) writes nothing and raises no error", async () => {
    const { layer, opened, url } = await setup();
    const { socket: client } = await rawStream(url, "GET /?user=bob HTTP/1.1\r\nhost: x\r\naccept: text/event-stream");
    const connection = opened[0]!;
    const socket = connection.res.socket!;
    const errors: Error[] = [];
    socket.on("error", (error) => errors.push(error));
    let writableAtEnd: boolean | undefined;
    // Node's own listener runs first and ends the response's socket; this one delivers into the gap.
    socket.once("end", () => {
      writableAtEnd = socket.writable;
      connection.send(Buffer.from("data: late\n\n"));
    });
    client.end();
    await waitUntil(() => layer.registry.size === 0, "the subscription to be freed");
    expect(writableAtEnd).toBe(false);
    expect(errors).toEqual([]);
    client.destroy();
  });

  it("an HTTP/1.0 client gets the frames unframed, on a connection that ends with the stream", async () => {
    const { layer, url } = await setup();
    const { socket, received } = await rawStream(url, "GET /?user=bob HTTP/1.0\r\naccept: text/event-stream");
    await note(layer, 1);
    await waitUntil(() => received().includes("notification.created"), "the event");
    const [head, body] = received().split("\r\n\r\n");
    expect(head).not.toMatch(/transfer-encoding/i);
    expect(body).not.toContain("\r\n"); // no chunk framing: SSE lines end with \n alone
    expect(body).toMatch(/^event: connected\n/);
    socket.destroy();
  });
});

describe("streams served by tRPC's stock handler, where allowed, held to the same bounds", () => {
  /** A server whose streams another writer fills (as tRPC's stock handler does), guarded by `hub`. */
  async function guardedServer(hub: SseHub, write: (res: ServerResponse) => void) {
    const closed: number[] = [];
    const server = http.createServer((_req, res) => {
      res.writeHead(200, SSE_HEADERS);
      hub.guard(res);
      res.on("close", () => closed.push(Date.now()));
      write(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return { port, closed, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }
  const newHub = (options: { maxBacklogBytes: number; stallTimeoutMs: number }) =>
    new SseHub({
      pingIntervalMs: 50,
      formatError: () => Buffer.alloc(0),
      logger: recordingLogger().logger,
      ...options,
    });

  it("a reader that takes nothing is closed past the backlog cap, and past the stall timeout", async () => {
    const hub = newHub({ maxBacklogBytes: 256 * 1024, stallTimeoutMs: 300 });
    const chunk = Buffer.alloc(64 * 1024, "x");
    let polite = true;
    const server = await guardedServer(hub, (res) => {
      const pump = () => {
        // Polite: only while the socket takes it (a stock handler honouring backpressure); rude: up to 4 MiB.
        while (!res.destroyed && res.writableLength < (polite ? 1 : 4 << 20)) res.write(chunk);
        if (!res.destroyed) res.once("drain", pump);
      };
      pump();
    });
    // A socket that connects and never reads.
    const idle = () => {
      const socket = net.connect(server.port, "127.0.0.1");
      socket.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
      socket.pause();
      return socket;
    };
    const stalled = idle();
    await waitUntil(() => hub.stats().stalledDisconnects === 1, "the stalled stream closed", { timeoutMs: 15_000 });
    polite = false;
    const flooded = idle();
    await waitUntil(() => hub.stats().slowConsumerDisconnects === 1, "the flooded stream closed", {
      timeoutMs: 15_000,
    });
    // A destroyed response says "close" on a later tick: then the hub lets it go.
    await waitUntil(() => hub.stats().guarded === 0, "both streams released");
    for (const socket of [stalled, flooded]) socket.destroy();
    hub.drain({ reconnectsPerSecond: 1, maxSpreadMs: 0 });
    await server.close();
  });

  it("ends them on drain, paced like the fast path's own", async () => {
    const hub = newHub({ maxBacklogBytes: 1024 * 1024, stallTimeoutMs: 60_000 });
    const server = await guardedServer(hub, (res) => res.write("event: ping\ndata: \n\n"));
    const readers = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<http.ClientRequest>((resolve) => {
            const req = http.get(`http://127.0.0.1:${server.port}/`, (res) => {
              res.resume();
              resolve(req);
            });
            req.on("error", () => {});
          }),
      ),
    );
    await waitUntil(() => hub.stats().guarded === 3, "three guarded streams");
    const started = Date.now();
    expect(hub.drain({ reconnectsPerSecond: 5, maxSpreadMs: 60_000 })).toBe(3);
    await waitUntil(() => server.closed.length === 3, "all three ended", { timeoutMs: 3_000 });
    // At 5 a second: now, after 200 ms and after 400 ms.
    const offsets = server.closed.map((at) => at - started).sort((x, y) => x - y);
    expect(offsets[0]).toBeLessThan(100);
    expect(offsets[2]).toBeGreaterThanOrEqual(350);
    for (const req of readers) req.destroy();
    await server.close();
  });
});
