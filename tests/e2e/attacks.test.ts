/**
 * The attacks of the tenancy and security review, each tried over HTTP
 * against the production build, with variants of each class.
 */
import { randomBytes } from "node:crypto";
import type { Browser } from "playwright-core";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startApp, type AppServer } from "../helpers/app-server";
import { chromiumPath, hasChromium, launchChromium, signedInPage } from "../helpers/browser";
import { baseUrl, live, signIn, trpcClient, until } from "./http-client";

let aliceCookie: string;
let bobCookie: string;

beforeAll(async () => {
  aliceCookie = await signIn("alice@acme.test");
  bobCookie = await signIn("bob@acme.test");
});

const streamInput = encodeURIComponent(JSON.stringify(superjson.serialize({ names: ["notification.created"] })));

/** The whole answer, or "(still open)" when it is a live stream after `ms`. */
async function answerOf(path: string, init: RequestInit = {}, ms = 3_000): Promise<{ status: number; text: string }> {
  const controller = new AbortController();
  const res = await fetch(`${baseUrl()}${path}`, { ...init, signal: controller.signal });
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return { status: res.status, text: await res.text() };
  } catch {
    return { status: res.status, text: "(still open)" };
  } finally {
    clearTimeout(timer);
  }
}

describe("one way in for streams", () => {
  it("however the stream's path or query is spelled, it is served by the fast path or refused", async () => {
    const { client: operator } = trpcClient(await signIn("olivia@platform.test"));
    const fastPathStreams = async () => (await operator.events.stats.query()).platform!.sse.open;
    const headers = { cookie: aliceCookie };
    const before = await fastPathStreams();
    for (const path of [
      `/api/trpc/events.onEvent?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { json: {} } }))}`,
      `/api/trpc/events.onEvent?batch=0&input=${streamInput}`,
      `/api/trpc/events%2EonEvent?input=${streamInput}`,
      `/api/trpc/events%2eonEvent?input=${streamInput}`,
      `/api/trpc/events.onEven%74?input=${streamInput}`,
      `/api/trpc/%65vents.onEvent?input=${streamInput}`,
      `/api/trpc/notification.recipients,events.onEvent?batch=1&input=${encodeURIComponent("{}")}`,
      `/api/trpc/events.onEvent,events.onEvent?batch=1&input=${encodeURIComponent("{}")}`,
    ]) {
      const { text } = await answerOf(path, { headers });
      expect(text, path).not.toBe("(still open)");
      expect(text, path).not.toContain("system.ready");
    }
    // The plain spelling is the fast path's, with all its bounds.
    const served = live(trpcClient(aliceCookie).client);
    await served.ready();
    expect(await fastPathStreams()).toBe(before + 1);
    served.unsubscribe();
  });
});

describe("cross-site requests", () => {
  const signOutEverywhere = (cookie: string, headers: Record<string, string>, body: BodyInit = "") =>
    fetch(`${baseUrl()}/api/trpc/session.signOutEverywhere`, {
      method: "POST",
      headers: { cookie, ...headers },
      body,
    });

  it("a form on another site cannot sign the victim out everywhere, whatever it sends", async () => {
    const victim = await signIn("carol@globex.test");
    const form = new FormData();
    form.set("x", "1");
    const attempts: [Record<string, string>, BodyInit][] = [
      [{ origin: "https://evil.example" }, form],
      [{ origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" }, "x=1"],
      [{ origin: "https://evil.example", "content-type": "text/plain" }, "{}"],
      [{ origin: "https://evil.example", "content-type": "application/json" }, "{}"],
      [{ "sec-fetch-site": "cross-site", "content-type": "application/json" }, "{}"],
      [{ "sec-fetch-site": "same-site", "content-type": "application/json" }, "{}"],
      [{ origin: "null", "content-type": "application/json" }, "{}"],
      // No Origin at all (an old browser's form): a form cannot send JSON.
      [{ "content-type": "multipart/form-data; boundary=x" }, "--x--"],
      [{ "content-type": "text/plain;charset=UTF-8" }, "{}"],
    ];
    for (const [headers, body] of attempts) {
      const res = await signOutEverywhere(victim, headers, body);
      expect([403, 415], JSON.stringify(headers)).toContain(res.status);
    }
    // The victim is still signed in.
    expect((await trpcClient(victim).client.notification.recipients.query()).length).toBeGreaterThan(0);
    // The app's own client (same origin, JSON) works.
    const own = await signOutEverywhere(
      victim,
      { origin: baseUrl(), "sec-fetch-site": "same-origin", "content-type": "application/json" },
      "{}",
    );
    expect(own.status).toBe(200);
  });
});

describe("security headers", () => {
  it("every page and API answer forbids framing and sniffing; pages carry a nonce CSP; no HSTS over plain HTTP", async () => {
    const page = await fetch(`${baseUrl()}/`, { headers: { cookie: aliceCookie } });
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    const html = await page.text();
    // Next puts the nonce on its scripts; a script without it would not run.
    expect(html).toContain(`nonce="${nonce}"`);
    const api = await fetch(`${baseUrl()}/api/trpc/notification.recipients`, { headers: { cookie: aliceCookie } });
    const stream = await fetch(`${baseUrl()}/api/trpc/events.onEvent?input=${streamInput}`, {
      headers: { cookie: aliceCookie },
      signal: AbortSignal.timeout(2_000),
    });
    const auth = await fetch(`${baseUrl()}/api/auth/csrf`);
    for (const res of [page, api, stream, auth, await fetch(`${baseUrl()}/signin`)]) {
      expect(res.headers.get("x-content-type-options"), res.url).toBe("nosniff");
      expect(res.headers.get("x-frame-options"), res.url).toBe("DENY");
      expect(res.headers.get("content-security-policy"), res.url).toContain("frame-ancestors 'none'");
      expect(res.headers.get("referrer-policy"), res.url).toBe("strict-origin-when-cross-origin");
      // Plain HTTP, and a forged X-Forwarded-Proto is not believed without a proxy of ours.
      expect(res.headers.get("strict-transport-security"), res.url).toBeNull();
    }
    await stream.body?.cancel();
    const forged = await fetch(`${baseUrl()}/signin`, { headers: { "x-forwarded-proto": "https" } });
    expect(forged.headers.get("strict-transport-security")).toBeNull();
  });
});

describe("bounded caches", () => {
  let server: AppServer;
  beforeAll(async () => {
    // Its own server, whose heap can be read after a full collection (SIGUSR2 with --expose-gc).
    server = await startApp({ build: false, nodeArgs: ["--expose-gc"] });
  });
  afterAll(() => server?.stop());

  const heapAfterGc = async () => {
    const seen = server.output().length;
    server.process.kill("SIGUSR2");
    let line: string | undefined;
    await until(() => {
      line = server
        .output()
        .slice(seen)
        .split("\n")
        .find((l) => l.includes('"server.memory"'));
      return line !== undefined;
    }, "the memory line");
    return (JSON.parse(line!) as { heapUsed: number }).heapUsed / (1024 * 1024);
  };

  it("thousands of distinct large garbage session cookies leave the server's heap where it was", async () => {
    const jweShaped = () =>
      ["eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIn0", "", "x", randomBytes(5_000).toString("base64url"), "y"].join(
        ".",
      );
    const garbage = () => randomBytes(11_000).toString("base64url");
    const flood = async (rounds: number) => {
      for (let i = 0; i < rounds; i++) {
        await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            fetch(`${server.baseUrl}/api/trpc/events.presence`, {
              headers: { cookie: `authjs.session-token=${j % 2 ? jweShaped() : garbage()}` },
            }).then((res) => res.text()),
          ),
        );
      }
    };
    await flood(200); // warm: code paths loaded and optimised, pools grown, before measuring
    const before = await heapAfterGc();
    await flood(400);
    const after = await heapAfterGc();
    // 4,000 cookies of 7-15 KB: kept by their value, they were more than 40 MiB (10,000 were +226 MiB).
    expect(after - before).toBeLessThan(8);
    // The server still answers, and sessions still work.
    const cookie = await signIn("alice@acme.test", "demo", server.baseUrl);
    expect(
      (await trpcClient(cookie, { url: server.baseUrl }).client.notification.recipients.query()).length,
    ).toBeGreaterThan(0);
  });
});

describe("presence is state, not history", () => {
  it("a member reconnecting in a loop neither floods the organisation nor causes anyone a gap", async () => {
    const { client: alice } = trpcClient(aliceCookie);
    const watcher = live(alice, { names: ["presence.changed", "presence.many_changed", "notification.created"] });
    await watcher.ready();
    await alice.notification.send.mutate({ target: { kind: "self" }, message: "before the loop" });
    await watcher.waitFor("notification.created");
    const cursor = watcher.events().find((r) => r.event.name === "notification.created")!.id;
    await new Promise((r) => setTimeout(r, 1_100));
    const presenceBefore = watcher.count("presence.changed") + watcher.count("presence.many_changed");

    // Bob opens and closes 200 streams, one after another.
    const started = Date.now();
    const { client: bob } = trpcClient(bobCookie);
    for (let i = 0; i < 200; i++) {
      const stream = live(bob, { names: ["notification.created"] });
      await stream.ready();
      stream.unsubscribe();
    }
    const seconds = (Date.now() - started) / 1_000;
    await new Promise((r) => setTimeout(r, 1_500));
    const presence = watcher.count("presence.changed") + watcher.count("presence.many_changed") - presenceBefore;
    watcher.unsubscribe();
    // At most two a second (before: two per stream, 400 here), and far within the per-user emit limit.
    expect(presence).toBeLessThanOrEqual(2 * Math.ceil(seconds + 1.5));

    // Alice resumes from before the loop: no gap, and nothing of the loop to replay.
    const resumed = live(alice, { lastEventId: cursor });
    await resumed.ready();
    resumed.unsubscribe();
    expect(resumed.count("system.gap")).toBe(0);
    expect(resumed.events().filter((r) => r.event.name.startsWith("presence."))).toEqual([]);
  });
});

describe("business rules, over HTTP", () => {
  it("bob cannot deliver an unpaid order, so escrow never releases it", async () => {
    const { client: bob } = trpcClient(bobCookie);
    const order = await bob.order.create.mutate({ title: "Unpaid over HTTP", totalCents: 100 });
    await bob.order.updateStatus.mutate({ orderId: order.id, to: "IN_PROGRESS" });
    await expect(bob.order.updateStatus.mutate({ orderId: order.id, to: "DELIVERED" })).rejects.toMatchObject({
      data: { code: "CONFLICT" },
    });
    await expect(bob.order.updateStatus.mutate({ orderId: order.id, to: "COMPLETED" })).rejects.toMatchObject({
      data: { code: "CONFLICT" },
    });
    await bob.order.payDemo.mutate({ orderId: order.id });
    await bob.order.updateStatus.mutate({ orderId: order.id, to: "DELIVERED" });
    const row = (await bob.order.list.query()).find((o) => o.id === order.id)!;
    expect(row).toMatchObject({ status: "DELIVERED", paymentStatus: "PAID" });
  });
});

describe.skipIf(!hasChromium)(
  `production without AUTH_URL${hasChromium ? "" : ` (skipped: no Chromium at ${chromiumPath})`}`,
  () => {
    let server: AppServer;
    let browser: Browser;
    beforeAll(async () => {
      // As the README says to run it: npm start, no AUTH_URL, plain HTTP.
      server = await startApp({ build: false, env: { AUTH_URL: undefined } });
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    for (const host of ["127.0.0.1", "localhost"]) {
      it(`signed in at http://${host}, the page goes live and the button delivers`, async () => {
        const page = await signedInPage(browser, `http://${host}:${server.port}`, "alice@acme.test");
        await page.click('[data-testid="demo-button"]');
        await until(
          async () => (await page.textContent('[data-testid="latest-event"]'))?.includes("Ping at") ?? false,
          "the button's event",
        );
        await page.context().close();
      });
    }
  },
);

describe("an IPv6 peer", () => {
  let server: AppServer;
  beforeAll(async () => {
    // Listening on both families; clients below connect over [::1].
    server = await startApp({
      build: false,
      env: { HOSTNAME: "::", AUTH_URL: undefined, RATE_LIMIT_SIGNINS_PER_IP: "3" },
    });
  });
  afterAll(() => server?.stop());

  it("is one address for the per-address limits, and a same-origin client over IPv6 works", async () => {
    const v6 = `http://[::1]:${server.port}`;
    const cookie = await signIn("alice@acme.test", "demo", v6); // attempt 1 from ::1
    const { client } = trpcClient(cookie, { url: v6 });
    const stream = live(client, { names: ["notification.created"] });
    await stream.ready();
    const sent = await fetch(`${v6}/api/trpc/notification.send`, {
      method: "POST",
      headers: { cookie, origin: v6, "sec-fetch-site": "same-origin", "content-type": "application/json" },
      body: JSON.stringify({ json: { target: { kind: "self" }, message: "over IPv6" } }),
    });
    expect(sent.status).toBe(200);
    await stream.waitFor("notification.created");
    stream.unsubscribe();
    // The same request from another site, over IPv6, is refused.
    const forged = await fetch(`${v6}/api/trpc/notification.send`, {
      method: "POST",
      headers: { cookie, origin: "http://[::2]:80", "content-type": "application/json" },
      body: JSON.stringify({ json: { target: { kind: "self" }, message: "forged" } }),
    });
    expect(forged.status).toBe(403);
    // Attempts 2 and 3 from ::1, then the address is out of sign-ins; IPv4 loopback has its own.
    await expect(signIn("bob@acme.test", "wrong", v6)).rejects.toThrow(/code=credentials/);
    await expect(signIn("bob@acme.test", "wrong", v6)).rejects.toThrow(/code=credentials/);
    await expect(signIn("carol@globex.test", "demo", v6)).rejects.toThrow(/code=rate_limited/);
    await expect(signIn("carol@globex.test", "demo", `http://127.0.0.1:${server.port}`)).resolves.toMatch(
      /session-token/,
    );
  });
});
