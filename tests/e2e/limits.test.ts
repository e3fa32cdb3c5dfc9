/**
 * Fairness and abuse limits, tried over HTTP against a production server of
 * its own: what one client exhausts here must not leak into the other test
 * files, which share one server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { TRPCClientError } from "@trpc/client";

import type { AppRouter } from "~/server/api/root";
import { signIn, startApp, type AppServer } from "../helpers/app-server";
import { live, trpcClient, until } from "./http-client";

let server: AppServer;
const client = (cookie: string) => trpcClient(cookie, { url: server.baseUrl }).client;

beforeAll(async () => {
  server = await startApp({
    build: false,
    env: { ESCROW_JOB_INTERVAL_MS: "0" },
  });
});

afterAll(async () => {
  await server.stop();
});

describe("fairness between tenants, over HTTP", () => {
  it("one user sending in bulk is limited with a retry hint, emits nothing past the limit, and another tenant is unaffected", async () => {
    const carol = client(await signIn(server.baseUrl, "carol@globex.test"));
    const sub = live(carol, { names: ["notification.created"] });
    await sub.ready();
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        carol.notification.send.mutate({ target: { kind: "self" }, message: `bulk ${i}` }).then(
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
    const alice = client(await signIn(server.baseUrl, "alice@acme.test"));
    await expect(
      alice.notification.send.mutate({ target: { kind: "self" }, message: "unaffected" }),
    ).resolves.toBeTruthy();
  });
});
