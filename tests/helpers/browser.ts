/** Pages of the app in Chromium, for the browser tests. */
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";

export { chromiumPath, hasChromium, launchChromium } from "./chromium";

export const connectionStatus = (page: Page) => page.textContent('[data-testid="connection-status"]');

export async function waitLive(page: Page) {
  await expect
    .poll(
      async () => {
        const status = await connectionStatus(page);
        // An error says why, in the failure message.
        if (status === "error") return `error: ${await page.textContent('[data-testid="connection-error"]')}`;
        return status;
      },
      { timeout: 15_000 },
    )
    .toBe("live");
}

/** A fresh browser context signed in through the sign-in form; resolves once the demo page is live. */
export async function signedInPage(
  browser: Browser,
  baseUrl: string,
  email: string,
  /** Runs in every page of the context before the app's scripts (to observe the browser's APIs). */
  initScript?: () => void,
): Promise<Page> {
  const context = await browser.newContext();
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  await page.goto(`${baseUrl}/`);
  await page.waitForURL(/\/signin/);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', "demo");
  await page.click('[data-testid="signin-submit"]');
  await page.waitForURL((url) => url.pathname === "/");
  await waitLive(page);
  return page;
}
