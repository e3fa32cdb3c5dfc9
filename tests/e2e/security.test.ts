/**
 * Findings of the hardening review, each tried from outside over HTTP
 * against the production build.
 */
import { readFileSync } from "node:fs";
import superjson from "superjson";
import { beforeAll, describe, expect, inject, it } from "vitest";

import { baseUrl, signIn } from "./http-client";

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

  it("a failed sign-in is logged without the email address", async () => {
    const email = `nobody-${Date.now()}@acme.test`;
    await expect(signIn(email, "wrong")).rejects.toThrow(/sign-in/);
    await expect.poll(() => serverLog().includes('"event":"auth.failed"'), { timeout: 5_000 }).toBe(true);
    expect(serverLog()).not.toContain(email);
  });

  it("a refused cursor says what was wrong with it, not where the stream is", async () => {
    const future = `${Date.now() + 86_400_000}-0`;
    const input = encodeURIComponent(JSON.stringify(superjson.serialize({ lastEventId: future })));
    const res = await fetch(`${baseUrl()}/api/trpc/events.onEvent?input=${input}`, {
      headers: { cookie: aliceCookie },
    });
    const text = await res.text();
    expect(text).toMatch(/not issued here/);
    expect(text).not.toMatch(/newest/);
    // No id in the answer but, at most, the one the caller sent.
    expect((text.match(/\d{13}-\d+/g) ?? []).filter((id) => id !== future)).toEqual([]);
  });
});
