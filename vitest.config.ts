import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = fileURLToPath(new URL("./src", import.meta.url));

// Every test process gets its own in-memory database and a fixed secret.
const testEnv: Record<string, string> = {
  NODE_ENV: "test",
  PGLITE_DATA_DIR: "memory://",
  DATABASE_URL: "",
  AUTH_SECRET: "test-secret-test-secret-test-secret-0123456789",
  PAYMENTS_WEBHOOK_SECRET: "test-webhook-secret-0123456789",
  LOG_LEVEL: "silent",
  ESCROW_JOB_INTERVAL_MS: "0",
  // In-process tests build a fresh layer per test on one database; the database log has its own tests.
  EVENTS_REPLAY_LOG: "memory",
};

const shared = {
  resolve: { alias: { "~": src } },
};

export default defineConfig({
  ...shared,
  test: {
    projects: [
      {
        ...shared,
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          environment: "node",
          env: testEnv,
        },
      },
      {
        ...shared,
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          environment: "node",
          env: testEnv,
          server: { deps: { inline: ["next-auth"] } },
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        ...shared,
        test: {
          name: "e2e",
          include: ["tests/e2e/**/*.test.ts"],
          environment: "node",
          env: testEnv,
          globalSetup: ["tests/e2e/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 300_000,
          // One production server is shared; its files run one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
