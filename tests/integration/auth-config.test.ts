/**
 * Which sign-in methods exist is decided by the environment: the demo login is
 * on in development and test, off in production unless AUTH_DEMO_LOGIN=true;
 * GitHub and Discord appear when both of their variables are set.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

async function loadConfig(env: Record<string, string | undefined>) {
  vi.resetModules();
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  const config = await import("~/server/auth/config");
  return {
    demoLoginEnabled: config.demoLoginEnabled,
    // Auth.js applies user options (such as the "demo" id) over the provider's defaults when it initialises.
    providerIds: config.authConfig.providers.map((p) => {
      const provider = typeof p === "function" ? p() : p;
      return (provider as { options?: { id?: string } }).options?.id ?? provider.id;
    }),
  };
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
