/**
 * The operator console (/admin) in Chromium against the production build:
 * who sees what (an organisation's admin their organisation, by name; the
 * operator every one; a member a 404), charts that move by exactly the
 * events emitted, a stream ended from the console that resumes with nothing
 * lost (and is audited), and screenshots of the page under load, kept in
 * test-results/console/ (light and dark).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { root, signIn, startApp, type AppServer } from "../helpers/app-server";
import { hasChromium, launchChromium, signedInPage, waitLive } from "../helpers/browser";
import { trpcClient } from "./http-client";

const artifacts = join(root, "test-results", "console");
let server: AppServer | undefined;
let browser: Browser | undefined;

if (!hasChromium)
  console.warn("[operator-console] SKIPPED: needs Chromium (apt-get install chromium, or CHROMIUM_PATH)");

beforeAll(async () => {
  if (!hasChromium) return;
  mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium();
  server = await startApp({
    build: false,
    env: { ESCROW_JOB_INTERVAL_MS: "0", RATE_LIMIT_EMITS_PER_USER: "0", RATE_LIMIT_EMITS_PER_ORGANIZATION: "0" },
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop("SIGKILL");
});

const client = async (email: string) =>
  trpcClient(await signIn(server!.baseUrl, email), { url: server!.baseUrl }).client;

/** The console of a signed-in page's user, once its stream is live and a first sample arrived. */
async function openConsole(page: Page): Promise<Page> {
  const consolePage = await page.context().newPage();
  await consolePage.goto(`${server!.baseUrl}/admin`);
  await consolePage.waitForSelector('[data-testid="console-status"]:text("live")', { timeout: 15_000 });
  await consolePage.waitForFunction(
    () => document.querySelector('[data-testid="kpi-emitted"]')?.getAttribute("data-value") !== null,
  );
  return consolePage;
}

const kpi = async (page: Page, name: string) =>
  Number(await page.getAttribute(`[data-testid="kpi-${name}"]`, "data-value"));

const connectionRows = (page: Page) =>
  page.$$eval('[data-testid="connection-row"]', (rows) =>
    rows.map((row) => ({
      user: row.querySelector('[data-testid="connection-user"]')?.textContent ?? "",
      organizations: row.querySelector('[data-testid="connection-organizations"]')?.textContent ?? "",
    })),
  );

describe.skipIf(!hasChromium)("operator console", () => {
  it("an organisation's admin sees only their organisation, by name; the operator sees both; a member gets 404", async () => {
    // Streams of both tenants.
    const alice = await signedInPage(browser!, server!.baseUrl, "alice@acme.test");
    const carol = await signedInPage(browser!, server!.baseUrl, "carol@globex.test");
    const olivia = await signedInPage(browser!, server!.baseUrl, "olivia@platform.test");
    const bob = await signedInPage(browser!, server!.baseUrl, "bob@acme.test");

    const aliceConsole = await openConsole(alice);
    await expect.poll(async () => (await connectionRows(aliceConsole)).map((r) => r.user)).toContain("Alice");
    const aliceSees = await aliceConsole.textContent("body");
    expect(aliceSees).toContain("Acme");
    expect(aliceSees).not.toContain("Globex");
    expect(aliceSees).not.toContain("Carol");
    for (const row of await connectionRows(aliceConsole)) expect(row.organizations).toBe("Acme");
    // Live streams whose sockets took everything are at the head.
    expect(await aliceConsole.textContent('[data-testid="connections"]')).toContain("at head");
    // Names, not ids: no cuid-shaped strings in what the page says.
    expect(aliceSees).not.toMatch(/\bc[a-z0-9]{24}\b/);
    expect(await aliceConsole.textContent('[data-testid="console-retention"]')).not.toContain("Globex");

    const carolConsole = await openConsole(carol);
    await expect.poll(async () => (await connectionRows(carolConsole)).map((r) => r.user)).toContain("Carol");
    const carolSees = await carolConsole.textContent("body");
    expect(carolSees).not.toContain("Acme");
    expect(carolSees).not.toContain("Alice");

    const oliviaConsole = await openConsole(olivia);
    await expect
      .poll(async () => (await connectionRows(oliviaConsole)).map((r) => r.user))
      .toEqual(expect.arrayContaining(["Alice", "Carol", "Bob"]));
    const retention = await oliviaConsole.textContent('[data-testid="console-retention"]');
    expect(retention).toContain("Acme");
    expect(retention).toContain("Globex");
    expect(await oliviaConsole.textContent('[data-testid="console-instances"]')).toContain("ok");

    const member = await bob.goto(`${server!.baseUrl}/admin`);
    expect(member?.status()).toBe(404);
    // And the procedures behind it refuse a member too.
    const bobApi = await client("bob@acme.test");
    await expect(bobApi.admin.console.query()).rejects.toMatchObject({ data: { code: "FORBIDDEN" } });
    await expect(bobApi.admin.connections.query({})).rejects.toMatchObject({ data: { code: "FORBIDDEN" } });

    for (const page of [alice, carol, olivia, bob]) await page.context().close();
  });

  it("emitting K events moves the charts' totals by exactly K within two seconds", async () => {
    const K = 7;
    const alice = await signedInPage(browser!, server!.baseUrl, "alice@acme.test");
    const olivia = await signedInPage(browser!, server!.baseUrl, "olivia@platform.test");
    const [aliceConsole, oliviaConsole] = [await openConsole(alice), await openConsole(olivia)];
    // Quiet first: the last sample counted everything before it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const before = { acme: await kpi(aliceConsole, "emitted"), platform: await kpi(oliviaConsole, "emitted") };

    const bob = await client("bob@acme.test");
    for (let i = 0; i < K; i++) {
      await bob.notification.send.mutate({ target: { kind: "organization" }, message: `counted ${i}` });
    }
    const sent = performance.now();
    await expect.poll(() => kpi(aliceConsole, "emitted"), { timeout: 2_000, interval: 50 }).toBe(before.acme + K);
    await expect.poll(() => kpi(oliviaConsole, "emitted"), { timeout: 2_000, interval: 50 }).toBe(before.platform + K);
    console.log(
      `[operator-console] ${K} events reached both consoles' totals in ${(performance.now() - sent).toFixed(0)} ms`,
    );
    // And stay there: nothing counted twice when the next samples arrive.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await kpi(aliceConsole, "emitted")).toBe(before.acme + K);
    expect(await kpi(oliviaConsole, "emitted")).toBe(before.platform + K);

    await alice.context().close();
    await olivia.context().close();
  });

  it("ending a stream from the console ends it; the client resumes with nothing lost, and the action is audited", async () => {
    const alice = await signedInPage(browser!, server!.baseUrl, "alice@acme.test");
    const bob = await signedInPage(browser!, server!.baseUrl, "bob@acme.test");
    const aliceConsole = await openConsole(alice);
    await aliceConsole.fill('[data-testid="connections-filter"]', "bob");
    await expect.poll(async () => (await connectionRows(aliceConsole)).map((r) => r.user)).toEqual(["Bob"]);
    const before = await aliceConsole.getAttribute('[data-testid="connection-row"]', "data-connection-id");

    const sender = await client("alice@acme.test");
    await aliceConsole.click('[data-testid="end-stream"]');
    // Sent while Bob's stream is down or coming back: each must reach him exactly once.
    const messages = Array.from({ length: 5 }, (_, i) => `while ended ${i}`);
    for (const message of messages) {
      await sender.notification.send.mutate({ target: { kind: "organization" }, message });
    }
    // A new stream took the ended one's place, and the table shows it without a reload (their
    // number may never have changed: the table follows streams opened, too).
    const shownIds = () =>
      aliceConsole.$$eval('[data-testid="connection-row"]', (rows) =>
        rows.map((row) => (row as HTMLElement).dataset.connectionId),
      );
    await expect
      .poll(
        async () => {
          const ids = await shownIds();
          return ids.length === 1 && ids[0] !== before;
        },
        { timeout: 15_000 },
      )
      .toBe(true);
    await waitLive(bob);
    for (const message of messages) {
      await expect
        .poll(async () => ((await bob.textContent('[data-testid="live-feed"]')) ?? "").split(message).length - 1, {
          timeout: 10_000,
        })
        .toBe(1);
    }
    await expect
      .poll(async () => aliceConsole.textContent('[data-testid="console-audit"]'))
      .toContain("Alice ended a stream of Bob");

    await alice.context().close();
    await bob.context().close();
  });

  it("screenshots of the console under load (light and dark) are kept as artifacts", async () => {
    const tabs = await Promise.all(
      ["alice@acme.test", "bob@acme.test", "carol@globex.test"].map((email) =>
        signedInPage(browser!, server!.baseUrl, email),
      ),
    );
    const olivia = await signedInPage(browser!, server!.baseUrl, "olivia@platform.test");
    const consolePage = await openConsole(olivia);
    await consolePage.setViewportSize({ width: 1400, height: 1500 });
    const senders = await Promise.all(["alice@acme.test", "carol@globex.test"].map(client));
    // About 20 s of steady traffic to both tenants, so every chart has a shape.
    const until = Date.now() + 20_000;
    let sent = 0;
    while (Date.now() < until) {
      await Promise.all(
        senders.map((s) => s.notification.send.mutate({ target: { kind: "organization" }, message: `load ${sent}` })),
      );
      sent += senders.length;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    await expect.poll(() => kpi(consolePage, "emitted"), { timeout: 3_000 }).toBeGreaterThanOrEqual(sent);
    await consolePage.emulateMedia({ colorScheme: "light" });
    await consolePage.screenshot({ path: join(artifacts, "console-light.png"), fullPage: true });
    await consolePage.emulateMedia({ colorScheme: "dark" });
    // The charts take the new theme's colours at their next redraw (each second's sample).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await consolePage.screenshot({ path: join(artifacts, "console-dark.png"), fullPage: true });
    console.log(`[operator-console] ${sent} events under load; screenshots in ${artifacts}`);
    for (const page of [...tabs, olivia]) await page.context().close();
  });
});
