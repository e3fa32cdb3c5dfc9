/**
 * One live connection per browser: the tabs of one sign-in share a stream
 * (Web Locks leader, BroadcastChannel relay), tried in Debian's chromium
 * against the production build.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { chromiumPath, hasChromium, launchChromium, signedInPage, waitLive } from "../helpers/browser";
import { baseUrl, signIn, trpcClient } from "./http-client";

if (!hasChromium) {
  console.warn(
    `[shared-tabs] SKIPPED: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`,
  );
}

let browser: Browser;
let admin: ReturnType<typeof trpcClient>["client"];

const holder = (page: Page) => page.textContent('[data-testid="connection-holder"]');
const isLeader = async (page: Page) => ((await holder(page)) ?? "").includes("holds the connection for every tab");
const feedItems = (page: Page) =>
  page.$$eval('[data-testid="live-feed"] li', (items) => items.map((li) => li.textContent ?? ""));
const signInOf = (page: Page) => page.evaluate(() => document.body.dataset.signIn ?? "");

/** Tabs (pages) of one browser context, each on the demo page and live. */
async function openTabs(context: BrowserContext, count: number, path = "/"): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const page = await context.newPage();
    await page.goto(`${baseUrl()}${path}`);
    pages.push(page);
  }
  for (const page of pages) await waitLive(page);
  return pages;
}

/** Open streams of one sign-in, as the server's registry counts them. */
async function streamsOf(signInSessionId: string): Promise<number> {
  const connections = await admin.events.connections.query();
  return connections.filter((c) => c.signInSessionId === signInSessionId).length;
}

/** The Cookie header of a browser context, for tRPC's client in this process. */
async function cookieOf(context: BrowserContext): Promise<string> {
  return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
}

describe.skipIf(!hasChromium)(
  `one connection per browser${hasChromium ? "" : ` (skipped: no Chromium at ${chromiumPath})`}`,
  () => {
    beforeAll(async () => {
      browser = await launchChromium();
      admin = trpcClient(await signIn("alice@acme.test")).client;
    });
    afterAll(async () => {
      await browser?.close();
    });

    it("ten tabs of one sign-in: all go live over one stream, and an event shows once in every tab", async () => {
      const first = await signedInPage(browser, baseUrl(), "bob@acme.test");
      const tabs = [first, ...(await openTabs(first.context(), 9))];
      const signInSessionId = await signInOf(first);
      await expect.poll(() => streamsOf(signInSessionId), { timeout: 5_000 }).toBe(1);
      expect((await Promise.all(tabs.map(isLeader))).filter(Boolean)).toHaveLength(1);

      // Each tab notes when the event reached its screen (its own clock: same machine).
      const arrivals = tabs.map((tab) =>
        tab.evaluate(
          () =>
            new Promise<number>((resolve) => {
              const node = document.querySelector('[data-testid="latest-event"]')!;
              const check = () => (node.textContent ?? "").includes("Ping at") && resolve(Date.now());
              new MutationObserver(check).observe(node, { childList: true, characterData: true, subtree: true });
              check();
            }),
        ),
      );
      const started = await tabs[6]!.evaluate(() => {
        const at = Date.now();
        document.querySelector<HTMLButtonElement>('[data-testid="demo-button"]')!.click();
        return at;
      });
      const arrived = await Promise.all(arrivals);
      const deliveredMs = Math.max(...arrived) - started;
      console.info(`[shared-tabs] click → event shown in all 10 tabs: ${deliveredMs} ms`);
      expect(deliveredMs).toBeLessThan(1_000);
      for (const tab of tabs) expect((await feedItems(tab)).filter((t) => t.includes("Ping at"))).toHaveLength(1);
      await first.context().close();
    });

    it("closing the leader tab while numbered events arrive: the other tabs get every event once, in order", async () => {
      const first = await signedInPage(browser, baseUrl(), "bob@acme.test");
      const tabs = [first, ...(await openTabs(first.context(), 3))];
      const leader = (await Promise.all(tabs.map(async (tab) => ((await isLeader(tab)) ? tab : null)))).find(Boolean)!;
      const others = tabs.filter((tab) => tab !== leader);
      const bob = trpcClient(await cookieOf(first.context())).client;
      const run = `run-${Date.now()}`;
      const total = 40;

      // Each remaining tab notes when it became the leader and when its stream was live again.
      const takeovers = others.map((tab) =>
        tab.evaluate(
          () =>
            new Promise<{ leaderAt: number; liveAt: number }>((resolve) => {
              let leaderAt = 0;
              const check = () => {
                const holds = document
                  .querySelector('[data-testid="connection-holder"]')
                  ?.textContent?.includes("holds the connection for every tab");
                if (holds && !leaderAt) leaderAt = Date.now();
                if (leaderAt && document.querySelector('[data-testid="connection-status"]')?.textContent === "live")
                  resolve({ leaderAt, liveAt: Date.now() });
              };
              new MutationObserver(check).observe(document.body, {
                childList: true,
                characterData: true,
                subtree: true,
              });
            }),
        ),
      );
      let closedAt = 0;
      for (let i = 1; i <= total; i++) {
        await bob.notification.send.mutate({ target: { kind: "self" }, message: `${run} #${i}` });
        if (i === 15) {
          closedAt = Date.now();
          await leader.close();
        }
        await new Promise((r) => setTimeout(r, 40));
      }
      const takeover = await Promise.race(takeovers);
      console.info(
        `[shared-tabs] hand-over after closing the leader: lock taken in ${takeover.leaderAt - closedAt} ms, stream live in ${takeover.liveAt - closedAt} ms`,
      );
      expect(takeover.liveAt - closedAt).toBeLessThan(2_000);

      const expected = Array.from({ length: total }, (_, i) => `${run} #${i + 1}`);
      for (const tab of others) {
        await expect
          .poll(async () => (await feedItems(tab)).filter((t) => t.includes(run)).length, { timeout: 10_000 })
          .toBe(total);
        const seen = (await feedItems(tab))
          .filter((t) => t.includes(run))
          .map((t) => /run-\d+ #\d+/.exec(t)![0])
          .reverse(); // the feed is newest first
        expect(seen).toEqual(expected);
      }
      await first.context().close();
    });

    it("'to this tab only' reaches that tab alone, and a tab showing order events shows no notifications", async () => {
      const first = await signedInPage(browser, baseUrl(), "bob@acme.test");
      const [second] = await openTabs(first.context(), 1);
      const [orders] = await openTabs(first.context(), 1, "/?names=order.created,order.status.changed");
      const latest = (page: Page) => page.textContent('[data-testid="latest-event"]');

      await second!.click('[data-testid="tab-button"]');
      await expect.poll(() => latest(second!)).toMatch(/Tab ping at/);
      await first.click('[data-testid="demo-button"]');
      await expect.poll(() => latest(first)).toMatch(/: Bob → user: Ping at/);
      await expect.poll(() => latest(second!)).toMatch(/: Bob → user: Ping at/);
      // The tab-only event came before the user-wide one, which the first tab has: it would have had both.
      expect((await feedItems(first)).join("\n")).not.toMatch(/Tab ping/);

      await first.click('[data-testid="create-order"]');
      await expect.poll(() => latest(orders!)).toMatch(/^order\.created/);
      expect((await feedItems(orders!)).join("\n")).not.toMatch(/Ping at/);
      await first.context().close();
    });

    it("signing out in one tab ends the shared stream: every tab goes to sign-in", async () => {
      const first = await signedInPage(browser, baseUrl(), "bob@acme.test");
      const tabs = [first, ...(await openTabs(first.context(), 2))];
      const signInSessionId = await signInOf(first);
      const follower = (await Promise.all(tabs.map(async (tab) => ((await isLeader(tab)) ? null : tab)))).find(
        Boolean,
      )!;
      await follower.click('button:has-text("Sign out")');
      for (const tab of tabs) await tab.waitForURL(/\/signin/, { timeout: 10_000 });
      await expect.poll(() => streamsOf(signInSessionId), { timeout: 5_000 }).toBe(0);
      await first.context().close();
    });
  },
);

describe("a shared stream over HTTP", () => {
  it("is refused when the cookie belongs to another sign-in than the page's, so a tab never reads the next user's events", async () => {
    const { client } = trpcClient(await signIn("bob@acme.test"));
    const errors: { code?: string; message: string }[] = [];
    const subscription = client.events.onEvent.subscribe(
      { allTabsOf: "a-sign-in-of-alice" },
      { onError: (error) => errors.push({ code: error.data?.code, message: error.message }) },
    );
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBe(1);
    subscription.unsubscribe();
    expect(errors[0]!.code).toBe("UNAUTHORIZED");
    expect(errors[0]!.message).toMatch(/signed in again/);
  });
});
