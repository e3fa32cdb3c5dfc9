/**
 * The demo page in a real browser (Debian's chromium driven by playwright-core)
 * against the production build: sign in, click, see the live event; a user of
 * the other organisation sees nothing of it.
 */
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { chromiumPath, hasChromium, launchChromium, signedInPage as signedInAt, waitLive } from "../helpers/browser";
import { baseUrl } from "./http-client";

if (!hasChromium) {
  console.warn(
    `[browser-demo] SKIPPED: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`,
  );
}

let browser: Browser;
const signedInPage = (email: string) => signedInAt(browser, baseUrl(), email);

const latest = (page: Page) => page.textContent('[data-testid="latest-event"]');
const feed = (page: Page) => page.textContent('[data-testid="live-feed"]');

describe.skipIf(!hasChromium)(
  `demo page in Chromium${hasChromium ? "" : ` (skipped: no Chromium at ${chromiumPath})`}`,
  () => {
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it("sends a signed-out visitor to sign-in", async () => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${baseUrl()}/`);
      await page.waitForURL(/\/signin\?callbackUrl=/);
      expect(await page.textContent("h1")).toBe("Sign in");
      await page.context().close();
    });

    it("rejects a wrong password with a clear message", async () => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${baseUrl()}/signin`);
      await page.fill('input[name="email"]', "alice@acme.test");
      await page.fill('input[name="password"]', "wrong");
      await page.click('[data-testid="signin-submit"]');
      await page.waitForSelector('[data-testid="signin-error"]');
      expect(await page.textContent('[data-testid="signin-error"]')).toMatch(/Wrong email or password/);
      await page.context().close();
    });

    it("the button's event shows up live; Globex sees nothing from Acme", async () => {
      const alice = await signedInPage("alice@acme.test");
      const carol = await signedInPage("carol@globex.test");
      expect(await latest(alice)).toBe("No events yet");
      // Presence is refetched once live, so it includes the viewer.
      await expect
        .poll(() => alice.textContent('[data-testid="presence"]'), { timeout: 10_000 })
        .toMatch(/Acme.*Alice/);

      await alice.click('[data-testid="demo-button"]');
      await expect
        .poll(() => latest(alice), { timeout: 10_000 })
        .toMatch(/^notification\.created: Alice → user: Ping at/);

      await alice.click('[data-testid="create-order"]');
      await expect
        .poll(() => latest(alice), { timeout: 10_000 })
        .toMatch(/^order\.created: order "Order .*" created \(\$125\.00\)/);

      // Carol's own event proves her stream is live and ordered after Acme's.
      await carol.selectOption('[data-testid="notify-target"]', "organization");
      await carol.fill('[data-testid="notify-message"]', "hello globex");
      await carol.click('[data-testid="notify-send"]');
      await expect.poll(() => latest(carol), { timeout: 10_000 }).toMatch(/hello globex/);
      const carolFeed = (await feed(carol)) ?? "";
      expect(carolFeed).not.toMatch(/order\.created|Ping at|Alice/);
      expect(await feed(alice)).not.toMatch(/hello globex/);

      if (process.env.E2E_SCREENSHOTS) {
        mkdirSync("tmp", { recursive: true });
        await alice.screenshot({ path: "tmp/demo-alice.png", fullPage: true });
        await carol.screenshot({ path: "tmp/demo-carol.png", fullPage: true });
      }
      await alice.context().close();
      await carol.context().close();
    });

    it("two tabs of one sign-in are two sessions", async () => {
      const tabA = await signedInPage("bob@acme.test");
      const tabB = await tabA.context().newPage();
      await tabB.goto(`${baseUrl()}/`);
      await waitLive(tabB);

      await tabA.click('[data-testid="tab-button"]');
      await expect.poll(() => latest(tabA), { timeout: 10_000 }).toMatch(/Tab ping at/);
      // A user-wide event after it: once tab B has it, it would have had the first too.
      await tabA.click('[data-testid="demo-button"]');
      await expect.poll(() => latest(tabB), { timeout: 10_000 }).toMatch(/Ping at/);
      await expect.poll(() => latest(tabA), { timeout: 10_000 }).toMatch(/: Bob → user: Ping at/);
      expect(await feed(tabB)).not.toMatch(/Tab ping/);
      await tabA.context().close();
    });
  },
);
