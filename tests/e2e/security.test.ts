/**
 * Findings of the hardening review, each tried from outside over HTTP
 * against the production build.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import superjson from "superjson";
import { beforeAll, describe, expect, inject, it } from "vitest";

import type { TRPCClientError } from "@trpc/client";

import type { AppRouter } from "~/server/api/root";
import { signOut as signOutAt } from "../helpers/app-server";
import { baseUrl, live, signIn, trpcClient, until } from "./http-client";

let aliceCookie: string;
const serverLog = () => readFileSync(inject("serverLogFile"), "utf8");

beforeAll(async () => {
  aliceCookie = await signIn("alice@acme.test");
});

describe("hardening, over HTTP", () => {
  it("sign-in never redirects to another site, however the callbackUrl is spelled", async () => {
    for (const callbackUrl of [
      "/\\evil.example",
      "//evil.example",
      "https://evil.example/",
      "/%5Cevil.example",
      "\\\\evil.example",
      // Normalised into a protocol-relative URL.
      "/.//evil.example",
      "/..//evil.example",
      "/%2e//evil.example",
      "/a/..//evil.example",
    ]) {
      const res = await fetch(`${baseUrl()}/signin?callbackUrl=${encodeURIComponent(callbackUrl)}`, {
        headers: { cookie: aliceCookie },
        redirect: "manual",
      });
      expect(res.status, callbackUrl).toBeGreaterThanOrEqual(300);
      const location = new URL(res.headers.get("location") ?? "", baseUrl());
      expect(location.origin, callbackUrl).toBe(new URL(baseUrl()).origin);
    }
    // A path on this site is kept.
    const res = await fetch(`${baseUrl()}/signin?callbackUrl=${encodeURIComponent("/?tab=orders")}`, {
      headers: { cookie: aliceCookie },
      redirect: "manual",
    });
    expect(new URL(res.headers.get("location")!, baseUrl()).search).toBe("?tab=orders");
  });

  it("a sign-in without the CSRF token is refused and issues no session", async () => {
    const res = await fetch(`${baseUrl()}/api/auth/callback/demo`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email: "alice@acme.test", password: "demo", callbackUrl: "/" }),
    });
    expect(res.headers.get("location") ?? "").toMatch(/error=MissingCSRF/);
    expect(res.headers.getSetCookie().some((c) => c.startsWith("authjs.session-token="))).toBe(false);
  });

  it("a failed sign-in is logged without the email address", async () => {
    const email = `nobody-${Date.now()}@acme.test`;
    await expect(signIn(email, "wrong")).rejects.toThrow(/sign-in/);
    await expect.poll(() => serverLog().includes('"event":"auth.failed"'), { timeout: 5_000 }).toBe(true);
    expect(serverLog()).not.toContain(email);
  });

  it("a refused cursor says what was wrong with it, not where the stream is", async () => {
    // Shaped like a sealed cursor, but not sealed by this server.
    const future = randomBytes(40).toString("base64url");
    const input = encodeURIComponent(JSON.stringify(superjson.serialize({ lastEventId: future })));
    const res = await fetch(`${baseUrl()}/api/trpc/events.onEvent?input=${input}`, {
      headers: { cookie: aliceCookie },
    });
    const text = await res.text();
    expect(text).toMatch(/not issued here/);
    expect(text).not.toMatch(/newest/);
    // No id in the answer but, at most, the one the caller sent.
    expect(text.match(/\d{13}-\d+/g) ?? []).toEqual([]);
  });
});

describe("logs nobody can flood, over HTTP", () => {
  it("a garbage Host header on /api/trpc gets tRPC's answer (here UNAUTHORIZED), not a server error", async () => {
    const { hostname, port } = new URL(baseUrl());
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: hostname, port, path: "/api/trpc/notification.recipients", headers: { host: "not a host:99999" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(401);
    expect(serverLog()).not.toContain('"trpc.http_failed"');
  });

  it("500 requests with garbage session cookies add a few lines, without stacks", async () => {
    const before = serverLog().length;
    const garbage = () => `authjs.session-token=${randomBytes(96).toString("base64url")}`;
    for (let i = 0; i < 50; i++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          fetch(j % 2 ? `${baseUrl()}/api/auth/session` : `${baseUrl()}/api/trpc/events.presence`, {
            headers: { cookie: garbage() },
          }).then((res) => res.text()),
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 300));
    const added = serverLog().slice(before);
    expect(added.length).toBeLessThan(4_000);
    expect(added).not.toMatch(/"stack"|\n\s+at /);
  });
});

describe("bounded input, over HTTP", () => {
  const rssMiB = () =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${inject("serverPid")}/status`, "utf8"))![1]) / 1024;

  /** Streams `count` chunks of `chunkKiB` KiB (no Content-Length, no signature) and returns the status. */
  function chunkedPost(count: number, chunkKiB = 1024) {
    return new Promise<number>((resolve) => {
      const url = new URL(`${baseUrl()}/api/webhooks/payments`);
      const req = http.request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(-1)); // the server may close the socket once it answered
      const chunk = Buffer.alloc(chunkKiB * 1024, "x");
      let sent = 0;
      const pump = () => {
        while (sent < count) {
          sent++;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
  }

  it("the payments webhook caps a chunked body while it streams: a few 200 MiB uploads cost the server little memory", async () => {
    const before = rssMiB();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 20);
    const statuses = await Promise.all([chunkedPost(200), chunkedPost(200), chunkedPost(200)]);
    clearInterval(sampler);
    // Answered 413, or the socket was closed after the answer while the client still sent.
    for (const status of statuses) expect([413, -1]).toContain(status);
    // A chunked body just over the cap, small enough to be sent whole before the answer: 413.
    expect(await chunkedPost(7, 10)).toBe(413);
    // Generous: far below the 600 MiB sent (buffering it all took about 1 GB before).
    expect(peak - before).toBeLessThan(150);
    // The server still answers.
    expect((await fetch(`${baseUrl()}/api/auth/csrf`)).status).toBe(200);
  });
});

describe("roles come from the database, over HTTP", () => {
  it("a demoted admin loses admin access at once, whatever the cookie says; a promoted member gains it", async () => {
    const { client: alice } = trpcClient(aliceCookie);
    const { client: bob } = trpcClient(await signIn("bob@acme.test"));
    const people = await alice.notification.recipients.query();
    const bobId = people.find((p) => p.email === "bob@acme.test")!.id;
    const aliceId = people.find((p) => p.email === "alice@acme.test")!.id;
    const acme = people[0]!.organization.id;
    const code = (promise: Promise<unknown>) =>
      promise.then(
        () => "OK",
        (e: TRPCClientError<AppRouter>) => e.data?.code,
      );

    expect(await code(bob.events.stats.query())).toBe("FORBIDDEN");
    await alice.admin.setRole.mutate({ userId: bobId, organizationId: acme, role: "ADMIN" });
    try {
      expect(await code(bob.events.stats.query())).toBe("OK"); // bob's cookie still says nothing of it
      // An administrator cannot demote the organisation's owner.
      expect(await code(bob.admin.setRole.mutate({ userId: aliceId, organizationId: acme, role: "MEMBER" }))).toBe(
        "FORBIDDEN",
      );
    } finally {
      await alice.admin.setRole.mutate({ userId: bobId, organizationId: acme, role: "MEMBER" });
    }
    expect(await code(bob.events.stats.query())).toBe("FORBIDDEN"); // at once, same cookie
    expect(await code(bob.admin.setRole.mutate({ userId: aliceId, organizationId: acme, role: "MEMBER" }))).toBe(
      "FORBIDDEN",
    );
  });
});

describe("sessions that can be ended, over HTTP", () => {
  const code = (promise: Promise<unknown>) =>
    promise.then(
      () => "OK",
      (e: TRPCClientError<AppRouter>) => e.data?.code,
    );

  it("after sign-out the old cookie opens nothing, answers nothing, is not re-issued, and its open stream ends at once", async () => {
    const cookie = await signIn("carol@globex.test");
    const { client } = trpcClient(cookie);
    const sub = live(client, { names: ["notification.created"] });
    await sub.ready();
    expect(await code(client.notification.recipients.query())).toBe("OK");

    await signOutAt(baseUrl(), cookie);
    await until(() => sub.errors.length > 0, "the open stream to end", 3_000);
    expect(sub.errors[0]!.data?.code).toBe("UNAUTHORIZED");
    expect(await code(client.notification.recipients.query())).toBe("UNAUTHORIZED");
    const again = live(client);
    await until(() => again.errors.length > 0, "a new stream to be refused");
    expect(again.errors[0]!.data?.code).toBe("UNAUTHORIZED");
    again.unsubscribe();
    const session = await fetch(`${baseUrl()}/api/auth/session`, { headers: { cookie } });
    expect(await session.json()).toBeNull();
    const reissued = session.headers
      .getSetCookie()
      .filter((c) => /^(__Secure-)?authjs\.session-token=[^;]+/.test(c) && !/Max-Age=0|1970/.test(c));
    expect(reissued).toEqual([]);
  });

  it("'sign out everywhere' ends every sign-in of the user, and an administrator can revoke a user", async () => {
    const bobHere = trpcClient(await signIn("bob@acme.test")).client;
    const bobThere = trpcClient(await signIn("bob@acme.test")).client;
    const stream = live(bobThere, { names: ["notification.created"] });
    await stream.ready();
    await bobHere.session.signOutEverywhere.mutate();
    await until(() => stream.errors.length > 0, "the other sign-in's stream to end", 3_000);
    expect(await code(bobThere.notification.recipients.query())).toBe("UNAUTHORIZED");
    expect(await code(bobHere.notification.recipients.query())).toBe("UNAUTHORIZED");

    const { client: alice } = trpcClient(aliceCookie);
    const bobAgain = trpcClient(await signIn("bob@acme.test")).client;
    expect(await code(bobAgain.notification.recipients.query())).toBe("OK");
    const bobId = (await alice.notification.recipients.query()).find((p) => p.email === "bob@acme.test")!.id;
    await alice.admin.revokeUser.mutate({ userId: bobId });
    expect(await code(bobAgain.notification.recipients.query())).toBe("UNAUTHORIZED");
    // Signing in again works: revocation ends sign-ins, it does not lock the account.
    expect(await code(trpcClient(await signIn("bob@acme.test")).client.notification.recipients.query())).toBe("OK");
  });
});
