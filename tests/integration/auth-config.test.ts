/**
 * Which sign-in methods exist is decided by the environment: the demo login is
 * on in development and test, off in production unless AUTH_DEMO_LOGIN=true;
 * GitHub and Discord appear when both of their variables are set.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";

async function loadConfig(env: Record<string, string | undefined>) {
  const config = await importConfig(env);
  return {
    demoLoginEnabled: config.demoLoginEnabled,
    // Auth.js applies user options (such as the "demo" id) over the provider's defaults when it initialises.
    providerIds: config.authConfig.providers.map((p) => {
      const provider = typeof p === "function" ? p() : p;
      return (provider as { options?: { id?: string } }).options?.id ?? provider.id;
    }),
  };
}

async function importConfig(env: Record<string, string | undefined>) {
  vi.resetModules();
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  return import("~/server/auth/config");
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe("sign-in methods from the environment", () => {
  it("has the demo login outside production and no OAuth without credentials", async () => {
    const config = await loadConfig({
      NODE_ENV: "test",
      AUTH_DEMO_LOGIN: undefined,
      AUTH_GITHUB_ID: undefined,
      AUTH_DISCORD_ID: undefined,
    });
    expect(config.demoLoginEnabled).toBe(true);
    expect(config.providerIds).toEqual(["demo"]);
  });

  it("turns the demo login off in production unless AUTH_DEMO_LOGIN=true", async () => {
    const secret = "a-production-secret-of-at-least-32-chars";
    expect(
      (await loadConfig({ NODE_ENV: "production", AUTH_SECRET: secret, AUTH_DEMO_LOGIN: undefined })).providerIds,
    ).toEqual([]);
    expect(
      (await loadConfig({ NODE_ENV: "production", AUTH_SECRET: secret, AUTH_DEMO_LOGIN: "true" })).providerIds,
    ).toEqual(["demo"]);
  });

  it("refuses to start in production without a real AUTH_SECRET", async () => {
    await expect(loadConfig({ NODE_ENV: "production", AUTH_SECRET: undefined })).rejects.toThrow(
      /Invalid environment variables/,
    );
  });

  it("enables GitHub and Discord when both of their variables are set", async () => {
    const config = await loadConfig({
      NODE_ENV: "test",
      AUTH_GITHUB_ID: "gh-id",
      AUTH_GITHUB_SECRET: "gh-secret",
      AUTH_DISCORD_ID: "dc-id",
      AUTH_DISCORD_SECRET: undefined,
    });
    expect(config.providerIds).toEqual(["demo", "github"]);
  });
});

describe("the development secret", () => {
  it("is random, made once, kept for its owner only, and never a value from the repository", async () => {
    const dir = mkdtempSync(join(tmpdir(), "t3-dev-secret-"));
    const file = join(dir, "nested", "auth-secret");
    try {
      const first = (
        await importConfig({ NODE_ENV: "development", AUTH_SECRET: undefined, AUTH_DEV_SECRET_FILE: file })
      ).authConfig.secret;
      expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const again = (
        await importConfig({ NODE_ENV: "development", AUTH_SECRET: undefined, AUTH_DEV_SECRET_FILE: file })
      ).authConfig.secret;
      expect(again).toBe(first);
      const elsewhere = (
        await importConfig({
          NODE_ENV: "development",
          AUTH_SECRET: undefined,
          AUTH_DEV_SECRET_FILE: join(dir, "other"),
        })
      ).authConfig.secret;
      expect(elsewhere).not.toBe(first);
      expect(readFileSync(new URL("../../src/server/auth/config.ts", import.meta.url), "utf8")).not.toMatch(
        /development-only-secret/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
