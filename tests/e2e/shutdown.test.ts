/**
 * A deploy, as users live it: the production server gets SIGTERM with open
 * streams (tRPC's client and a browser page), a new process takes the same
 * port, and everyone carries on. This file runs its own servers on one port
 * and one database, so a restart keeps sessions valid.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { signIn, startApp, type AppServer } from "../helpers/app-server";
import { connectionStatus, hasChromium, launchChromium, signedInPage, waitLive } from "../helpers/browser";
import { freePort } from "../helpers/ports";
import { live, messages, trpcClient } from "./http-client";

const SHUTDOWN_TIMEOUT_MS = 5_000;
const env = {
  EVENTS_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  EVENTS_PING_INTERVAL_MS: "500",
  EVENTS_RECONNECT_AFTER_INACTIVITY_MS: "3000",
  ESCROW_JOB_INTERVAL_MS: "0",
};

let dataDir: string;
let port: number;
let server: AppServer | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "t3-live-events-restart-"));
  port = await freePort();
  if (hasChromium) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("SIGTERM with open streams", () => {
  it("exits within the bound; clients and the page reconnect to the new process and carry on with nothing lost", async () => {
    server = await startApp({ build: false, port, dataDir, env });
    const cookie = await signIn(server.baseUrl, "alice@acme.test");
    const { client } = trpcClient(cookie, { url: server.baseUrl });
    const sub = live(client, { names: ["notification.created"] });
    await sub.ready();
    for (const m of ["before-1", "before-2"])
      await client.notification.send.mutate({ target: { kind: "self" }, message: m });
    await sub.waitFor("notification.created", 2);
    const page = browser ? await signedInPage(browser, server.baseUrl, "bob@acme.test") : undefined;

    const started = Date.now();
    await server.stop("SIGTERM", SHUTDOWN_TIMEOUT_MS + 5_000);
    const exitMs = Date.now() - started;
    expect(exitMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(server.process.signalCode).toBeNull(); // it exited by itself, not by the SIGKILL
    // A page whose stream ended must not claim to be live.
    if (page) await expect.poll(() => connectionStatus(page), { timeout: 5_000 }).not.toBe("live");

    server = await startApp({ build: false, port, dataDir, env });
    await sub.ready(2);
    await client.notification.send.mutate({ target: { kind: "self" }, message: "after-1" });
    await sub.waitFor("notification.created", 3);
    expect(messages(sub.received)).toEqual(["before-1", "before-2", "after-1"]);
    // The history is in the database: the client resumed across the restart with no gap.
    expect(sub.received.filter((r) => r.event.name === "system.gap")).toEqual([]);
    expect(sub.errors).toEqual([]);
    sub.unsubscribe();

    if (page) {
      await waitLive(page);
      await page.click('[data-testid="demo-button"]');
      await expect
        .poll(() => page.textContent('[data-testid="latest-event"]'), { timeout: 5_000 })
        .toMatch(/: Bob → user: Ping at/);
      await page.context().close();
    }
  });

  it.skipIf(!hasChromium)(
    `a drained page reconnects when the server told it to, not at once${hasChromium ? "" : " (skipped: no Chromium)"}`,
    async () => {
      await server?.stop("SIGTERM", SHUTDOWN_TIMEOUT_MS + 5_000); // the previous test's
      // One reconnect every 4 s would tell the page's stream, opened second, to come back after 4.5 s,
      // past the 3 s after which tRPC's link replaces a silent EventSource and connects at once. So the
      // pacing is held inside that window: the two streams return 0.5 s and 1.5 s after the drain.
      server = await startApp({
        build: false,
        port,
        dataDir,
        env: { ...env, EVENTS_DRAIN_RECONNECTS_PER_SECOND: "0.25" },
      });
      const cookie = await signIn(server.baseUrl, "alice@acme.test");
      const { client } = trpcClient(cookie, { url: server.baseUrl });
      const sub = live(client, { names: ["notification.created"] });
      await sub.ready();
      const page = await signedInPage(browser!, server.baseUrl, "bob@acme.test", () => {
        const opens: number[] = [];
        Object.assign(window, { eventSourceOpens: opens });
        window.EventSource = class extends window.EventSource {
          constructor(url: string | URL, init?: EventSourceInit) {
            super(url, init);
            opens.push(Date.now());
          }
        };
      });

      const signalled = Date.now();
      await server.stop("SIGTERM", SHUTDOWN_TIMEOUT_MS + 5_000);
      server = await startApp({ build: false, port, dataDir, env });
      await waitLive(page);
      const opens = await page.evaluate(() => (window as unknown as { eventSourceOpens: number[] }).eventSourceOpens);
      const firstAfterDrain = opens.find((t) => t >= signalled);
      // Its own backoff would have tried again within 0.5 s of the stream's end, and tRPC's link after 3 s.
      expect(firstAfterDrain! - signalled).toBeGreaterThanOrEqual(1_500);
      expect(firstAfterDrain! - signalled).toBeLessThan(2_500);
      sub.unsubscribe();
      await page.context().close();
    },
  );
});
