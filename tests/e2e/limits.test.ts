/**
 * Fairness and abuse limits, tried over HTTP against a production server of
 * its own with small limits: what one client exhausts here must not leak into
 * the other test files, which share one server. The server trusts one proxy
 * (TRUST_PROXY_HOPS=1), so each test speaks from addresses of its own through
 * X-Forwarded-For.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { TRPCClientError } from "@trpc/client";

import type { AppRouter } from "~/server/api/root";
import { root, signIn, startApp, type AppServer } from "../helpers/app-server";
import { freePort } from "../helpers/ports";
import { waitUntil } from "../helpers/wait";
import { live, messages, trpcClient, until } from "./http-client";

const RETENTION_PER_AUDIENCE = 20;
const SIGNINS_PER_IP = 5;
const FAILURES_PER_ACCOUNT = 3;
const FAILURES_PER_ACCOUNT_ALL_ADDRESSES = 6;
const STREAM_OPENS_PER_IP = 5;
const STREAMS_PER_ORGANIZATION = 4;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_BATCH = 10;

let server: AppServer;
const cookies: Record<"alice" | "bob" | "carol", string> = { alice: "", bob: "", carol: "" };
let nextAddress = 1;
/** A client address of its own, as our one trusted proxy would report it. */
const fromNewAddress = () => ({ "x-forwarded-for": `192.0.2.${nextAddress++}` });
const client = (cookie: string, headers: Record<string, string> = fromNewAddress()) =>
  trpcClient(cookie, { url: server.baseUrl, headers }).client;
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.process.pid}/status`, "utf8"))![1]) * 1024;

beforeAll(async () => {
  server = await startApp({
    build: false,
    env: {
      ESCROW_JOB_INTERVAL_MS: "0",
      // Behind one proxy of ours, which says what protocol the browser used (no AUTH_URL: read from it).
      TRUST_PROXY_HOPS: "1",
      AUTH_URL: undefined,
      EVENTS_RETENTION_COUNT: String(RETENTION_PER_AUDIENCE),
      RATE_LIMIT_SIGNINS_PER_IP: String(SIGNINS_PER_IP),
      RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT: String(FAILURES_PER_ACCOUNT),
      RATE_LIMIT_SIGNIN_FAILURES_PER_ACCOUNT_ALL_ADDRESSES: String(FAILURES_PER_ACCOUNT_ALL_ADDRESSES),
      RATE_LIMIT_STREAM_OPENS_PER_IP: String(STREAM_OPENS_PER_IP),
      EVENTS_MAX_CONNECTIONS_PER_ORGANIZATION: String(STREAMS_PER_ORGANIZATION),
      EVENTS_MAX_CONNECTIONS_PER_USER: "20",
      TRPC_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      TRPC_MAX_BATCH_SIZE: String(MAX_BATCH),
    },
  });
  for (const name of ["alice", "bob", "carol"] as const) {
    const email = `${name}@${name === "carol" ? "globex" : "acme"}.test`;
    cookies[name] = await signIn(server.baseUrl, email, "demo", fromNewAddress());
  }
});

afterAll(async () => {
  await server.stop();
});

const openStreams = async () => (await client(cookies.alice).events.stats.query()).totalConnections;

describe("fairness between tenants, over HTTP", () => {
  it("one tenant's volume never erases another tenant's history: Acme resumes without a gap after a Globex flood", async () => {
    const alice = client(cookies.alice);
    const carol = client(cookies.carol);
    const aliceLive = live(alice, { names: ["notification.created"] });
    await aliceLive.ready();
    await alice.notification.send.mutate({ target: { kind: "self" }, message: "before the flood" });
    await aliceLive.waitFor("notification.created");
    const cursor = aliceLive.events()[0]!.id;
    aliceLive.unsubscribe();

    const carolLive = live(carol, { names: ["notification.created"] });
    await carolLive.ready();
    const carolCursor = (await carol.notification.send.mutate({ target: { kind: "self" }, message: "c0" })).id;
    for (let i = 0; i < RETENTION_PER_AUDIENCE + 5; i++) {
      await carol.notification.send.mutate({ target: { kind: "self" }, message: `flood ${i}` });
      await carol.notification.send.mutate({ target: { kind: "organization" }, message: `org flood ${i}` });
    }
    carolLive.unsubscribe();
    await alice.notification.send.mutate({ target: { kind: "organization" }, message: "after the flood" });

    const resumed = live(client(cookies.alice), { names: ["notification.created"], lastEventId: cursor });
    await resumed.waitFor("notification.created");
    await resumed.ready();
    expect(resumed.count("system.gap")).toBe(0);
    expect(messages(resumed.received)).toEqual(["after the flood"]);
    resumed.unsubscribe();

    // The flood evicted Globex's own history, and Carol is told so.
    const carolResumed = live(client(cookies.carol), { names: ["notification.created"], lastEventId: carolCursor });
    await carolResumed.waitFor("system.gap");
    expect(carolResumed.received[0]!.event).toMatchObject({
      name: "system.gap",
      data: { reason: "retention_exceeded" },
    });
    carolResumed.unsubscribe();
  });

  it("one user sending in bulk is limited with a retry hint, emits nothing past the limit, and another tenant is unaffected", async () => {
    const bob = client(cookies.bob);
    const sub = live(bob, { names: ["notification.created"] });
    await sub.ready();
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        bob.notification.send.mutate({ target: { kind: "self" }, message: `bulk ${i}` }).then(
          () => ({ ok: true as const }),
          (e: TRPCClientError<AppRouter>) => ({ ok: false as const, code: e.data?.code, data: e.data }),
        ),
      ),
    );
    const accepted = results.filter((r) => r.ok).length;
    const refused = results.filter((r) => !r.ok);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(100); // RATE_LIMIT_EMITS_PER_USER per 10 s
    expect(refused.length).toBe(150 - accepted);
    for (const r of refused) {
      expect(r.code).toBe("TOO_MANY_REQUESTS");
      expect((r.data as { retryAfterMs?: number }).retryAfterMs).toBeGreaterThan(0);
    }
    // Only what was accepted was emitted.
    await until(() => sub.events().length >= accepted, "the accepted events");
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.events()).toHaveLength(accepted);
    sub.unsubscribe();
    // Another tenant is not slowed down by it.
    await expect(
      client(cookies.carol).notification.send.mutate({ target: { kind: "self" }, message: "unaffected" }),
    ).resolves.toBeTruthy();
  });

  it("caps the open streams of one organisation; another organisation can still connect", async () => {
    await waitUntil(async () => (await openStreams()) === 0, "earlier streams to close");
    const held = [
      live(client(cookies.alice)),
      live(client(cookies.alice)),
      live(client(cookies.bob)),
      live(client(cookies.bob)),
    ];
    for (const stream of held) await stream.ready();
    const over = live(client(cookies.alice));
    await until(() => over.errors.length > 0, "the refusal");
    expect(over.errors[0]!.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(over.errors[0]!.message).toMatch(/per-organisation limit/);
    const globex = live(client(cookies.carol));
    await globex.ready();
    for (const stream of [...held, over, globex]) stream.unsubscribe();
  });
});

describe("per-address limits, over HTTP", () => {
  it("opening streams is limited per address; a forged X-Forwarded-For entry or address header does not change the address", async () => {
    await waitUntil(async () => (await openStreams()) === 0, "earlier streams to close");
    const address = "198.51.100.7";
    for (let i = 0; i < STREAM_OPENS_PER_IP; i++) {
      const stream = live(client(cookies.carol, { "x-forwarded-for": address }));
      await stream.ready();
      stream.unsubscribe();
    }
    // Nor does the header the server uses internally for the address, sent by the client.
    const internal = { "x-live-events-client-ip": "198.51.100.99" };
    for (const headers of [
      { "x-forwarded-for": address },
      { "x-forwarded-for": `203.0.113.99, ${address}` },
      { "x-forwarded-for": address, ...internal },
    ]) {
      const refused = live(client(cookies.carol, headers));
      await until(() => refused.errors.length > 0, "the refusal");
      expect(refused.errors[0]!.data?.code).toBe("TOO_MANY_REQUESTS");
      expect((refused.errors[0]!.data as { retryAfterMs?: number }).retryAfterMs).toBeGreaterThan(0);
      refused.unsubscribe();
    }
    const elsewhere = live(client(cookies.carol, { "x-forwarded-for": "198.51.100.8" }));
    await elsewhere.ready();
    elsewhere.unsubscribe();
  });

  it("sign-in attempts are limited per address, whatever the account", async () => {
    const address = { "x-forwarded-for": "203.0.113.1" };
    for (let i = 0; i < SIGNINS_PER_IP; i++) {
      await expect(signIn(server.baseUrl, `nobody-${randomUUID()}@acme.test`, "wrong", address)).rejects.toThrow(
        /code=credentials/,
      );
    }
    // The right password does not help from there, nor does a forged entry in front of it.
    await expect(signIn(server.baseUrl, "alice@acme.test", "demo", address)).rejects.toThrow(/code=rate_limited/);
    await expect(
      signIn(server.baseUrl, "alice@acme.test", "demo", { "x-forwarded-for": "10.0.0.1, 203.0.113.1" }),
    ).rejects.toThrow(/code=rate_limited/);
    await expect(signIn(server.baseUrl, "alice@acme.test", "demo", fromNewAddress())).resolves.toMatch(/session-token/);
  });

  it("failed sign-ins slow down the guessing address for that account, not the owner elsewhere", async () => {
    const attacker = fromNewAddress();
    for (let i = 0; i < FAILURES_PER_ACCOUNT; i++) {
      await expect(signIn(server.baseUrl, "bob@acme.test", "wrong", attacker)).rejects.toThrow(/code=credentials/);
    }
    // The attacker's address is refused for bob, even with the right password.
    await expect(signIn(server.baseUrl, "bob@acme.test", "demo", attacker)).rejects.toThrow(/code=rate_limited/);
    // Bob, from his own address, is not locked out (before the fix: refused for 15 minutes from anywhere).
    await expect(signIn(server.baseUrl, "bob@acme.test", "demo", fromNewAddress())).resolves.toMatch(/session-token/);
    await expect(signIn(server.baseUrl, "carol@globex.test", "demo", fromNewAddress())).resolves.toMatch(
      /session-token/,
    );
    // The page says what happened, without saying whether the account exists.
    const page = await (
      await fetch(`${server.baseUrl}/signin?error=CredentialsSignin&code=rate_limited`, { headers: fromNewAddress() })
    ).text();
    expect(page).toContain("Too many sign-in attempts");
  });

  it("concurrent wrong passwords cannot race the count: no more are checked than the limit allows", async () => {
    const attacker = fromNewAddress();
    // Within the address's own sign-in limit, so only the account-and-address count is tried.
    const attempts = await Promise.allSettled(
      Array.from({ length: SIGNINS_PER_IP }, () => signIn(server.baseUrl, "alice@acme.test", "wrong", attacker)),
    );
    const reasons = attempts.map((a) => (a.status === "rejected" ? String(a.reason) : "signed in"));
    expect(reasons.filter((r) => r.includes("code=credentials"))).toHaveLength(FAILURES_PER_ACCOUNT);
    expect(reasons.filter((r) => r.includes("code=rate_limited"))).toHaveLength(SIGNINS_PER_IP - FAILURES_PER_ACCOUNT);
  });

  it("guessing spread over many addresses slows the owner by seconds at most, never locks them out", async () => {
    for (let i = 0; i < FAILURES_PER_ACCOUNT_ALL_ADDRESSES; i++) {
      await expect(signIn(server.baseUrl, "carol@globex.test", "wrong", fromNewAddress())).rejects.toThrow(
        /code=credentials/,
      );
    }
    // Past the account-wide limit, a further guess from yet another address is refused or slowed…
    const started = Date.now();
    // …and the owner, from an address with no failures, gets in within the documented delay (5 s).
    let signedIn = false;
    while (!signedIn && Date.now() - started < 7_000) {
      signedIn = await signIn(server.baseUrl, "carol@globex.test", "demo", fromNewAddress()).then(
        () => true,
        (error: Error) => {
          expect(error.message).toMatch(/code=rate_limited/);
          return new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500));
        },
      );
    }
    expect(signedIn).toBe(true);
    expect(Date.now() - started).toBeLessThan(6_000);
  });
});

describe("behind a TLS proxy of ours, over HTTP", () => {
  it("a sign-in the proxy reports as HTTPS gets a __Secure- cookie that pages, tRPC and the stream all read", async () => {
    // As nginx forwards a browser's HTTPS requests: its own address and the protocol the browser used.
    const viaProxy = { ...fromNewAddress(), "x-forwarded-proto": "https" };
    const cookie = await signIn(server.baseUrl, "alice@acme.test", "demo", viaProxy);
    expect(cookie).toMatch(/^__Secure-authjs\.session-token=|; __Secure-authjs\.session-token=/);
    const { client } = trpcClient(cookie, { url: server.baseUrl, headers: viaProxy });
    expect((await client.notification.recipients.query()).length).toBeGreaterThan(0);
    const stream = live(client, { names: ["notification.created"] });
    await stream.ready();
    await client.notification.send.mutate({ target: { kind: "self" }, message: "behind TLS" });
    await stream.waitFor("notification.created");
    stream.unsubscribe();
    const page = await fetch(`${server.baseUrl}/`, { headers: { ...viaProxy, cookie }, redirect: "manual" });
    expect(page.status).toBe(200);
    expect(page.headers.get("strict-transport-security")).toMatch(/max-age=/);
  });
});

describe("bounded input on /api/trpc, over HTTP", () => {
  /** POSTs `chunks` × 64 KiB (chunked, no Content-Length) and resolves with the status once answered. */
  const postChunked = (chunks: number) =>
    new Promise<{ status: number; sentBytes: number }>((resolve, reject) => {
      const url = new URL(`${server.baseUrl}/api/trpc/notification.send`);
      let sentBytes = 0;
      let answered = false;
      const req = http.request(
        url,
        { method: "POST", headers: { cookie: cookies.carol, "content-type": "application/json" } },
        (res) => {
          answered = true;
          res.resume();
          resolve({ status: res.statusCode ?? 0, sentBytes });
          req.destroy();
        },
      );
      req.on("error", (error) => (answered ? undefined : reject(error)));
      const chunk = Buffer.alloc(64 * 1024, "a");
      const write = () => {
        while (!answered && sentBytes < chunks * chunk.length) {
          sentBytes += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", write);
        }
        if (!answered) req.end();
      };
      write();
    });

  it("a body over TRPC_MAX_BODY_BYTES is refused with 413, chunked or declared, without being read whole", async () => {
    const before = rss();
    const results = await Promise.all([postChunked(1024), postChunked(1024), postChunked(1024)]); // 3 × 64 MiB
    for (const result of results) expect(result.status).toBe(413);
    expect(rss() - before).toBeLessThan(150 * 1024 * 1024);

    const declared = await fetch(`${server.baseUrl}/api/trpc/notification.send`, {
      method: "POST",
      headers: { cookie: cookies.carol, "content-type": "application/json" },
      body: JSON.stringify({ json: { target: { kind: "self" }, message: "x".repeat(MAX_BODY_BYTES) } }),
    });
    expect(declared.status).toBe(413);
    // Within the limit, the same call works.
    const fine = await fetch(`${server.baseUrl}/api/trpc/notification.send`, {
      method: "POST",
      headers: { cookie: cookies.carol, "content-type": "application/json" },
      body: JSON.stringify({ json: { target: { kind: "self" }, message: "small" } }),
    });
    expect(fine.status).toBe(200);
  });

  it("a body cut short of its declared length is dropped quietly, and the next request is served", async () => {
    const { port } = new URL(server.baseUrl);
    const logged = server.output().length;
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => {
        socket.write(
          `POST /api/trpc/notification.send HTTP/1.1\r\nhost: x\r\ncookie: ${cookies.carol}\r\n` +
            "content-type: application/json\r\ncontent-length: 500\r\n\r\n" +
            '{"json":{"target":',
        );
        setTimeout(() => socket.destroy(), 200);
      });
      socket.on("close", () => resolve());
      socket.on("error", reject);
    });
    const fine = await fetch(`${server.baseUrl}/api/trpc/notification.send`, {
      method: "POST",
      headers: { cookie: cookies.carol, "content-type": "application/json" },
      body: JSON.stringify({ json: { target: { kind: "self" }, message: "after a cut body" } }),
    });
    expect(fine.status).toBe(200);
    expect(server.output().slice(logged)).not.toContain("trpc.http_failed");
  });

  it("a batch over TRPC_MAX_BATCH_SIZE is refused with 400", async () => {
    const batch = (n: number) =>
      fetch(
        `${server.baseUrl}/api/trpc/${Array.from({ length: n }, () => "notification.recipients").join(",")}?batch=1&input=${encodeURIComponent("{}")}`,
        { headers: { cookie: cookies.carol } },
      );
    const over = await batch(MAX_BATCH + 1);
    expect(over.status).toBe(400);
    expect(await over.text()).toMatch(/Batch call exceeds maximum size/);
    expect((await batch(MAX_BATCH)).status).toBe(200);
  });
});

describe("safe defaults", () => {
  it("the demo login in production is announced with a warning at start", () => {
    const line = server
      .output()
      .split("\n")
      .find((l) => l.includes('"auth.demo_login_enabled"'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: "warn" });
  });

  it("the app is built without its secrets (this run's build had no AUTH_SECRET), and refuses to start without them, naming each", async () => {
    const withoutSecret = { ...process.env };
    delete withoutSecret.AUTH_SECRET;
    const child = spawn(process.execPath, ["--import", "tsx/esm", join(root, "server.ts")], {
      cwd: root,
      env: {
        ...withoutSecret,
        NODE_ENV: "production",
        HOSTNAME: "127.0.0.1",
        PORT: String(await freePort()),
        PGLITE_DATA_DIR: join(tmpdir(), `t3-live-events-nosecret-${randomUUID()}`),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).not.toBe(0);
    expect(output).toMatch(/Invalid environment variables/);
    expect(output).toContain("AUTH_SECRET");
  });
});
