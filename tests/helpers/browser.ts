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
  /** Called with the page before it first navigates (to watch its requests from the start). */
  onPage?: (page: Page) => void,
): Promise<Page> {
  const context = await browser.newContext();
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  onPage?.(page);
  await page.goto(`${baseUrl}/`);
  await page.waitForURL(/\/signin/);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', "demo");
  await page.click('[data-testid="signin-submit"]');
  await page.waitForURL((url) => url.pathname === "/");
  await waitLive(page);
  return page;
}

/**
 * Counts a page's requests whose URL contains `fragment`, from the moment it is
 * called. `settled()` resolves once none is in flight and none has started for
 * `quietMs`, so that a count taken afterwards sees only what later actions cause.
 */
export function countRequests(page: Page, fragment: string) {
  let started = 0;
  let ended = 0;
  let lastStart = Date.now();
  page.on("request", (request) => {
    if (!request.url().includes(fragment)) return;
    started++;
    lastStart = Date.now();
  });
  const end = (request: { url(): string }) => {
    if (request.url().includes(fragment)) ended++;
  };
  page.on("requestfinished", end);
  page.on("requestfailed", end);
  return {
    get started() {
      return started;
    },
    async settled(quietMs = 500) {
      await expect
        .poll(() => started === ended && Date.now() - lastStart >= quietMs, { timeout: 15_000, interval: 100 })
        .toBe(true);
      return started;
    },
  };
}
