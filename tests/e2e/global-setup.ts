/**
 * Builds the app (`next build`) and serves the production build (`next start`)
 * on a free loopback port with a fresh embedded database, for the transport
 * and browser tests. Set E2E_SKIP_BUILD=1 to reuse an existing .next build.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    webhookSecret: string;
    pingIntervalMs: number;
  }
}

const root = join(import.meta.dirname, "..", "..");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string) {
  const result = spawnSync(command, args, { cwd: root, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0) {
    throw new Error(`${what} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}

export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(join(tmpdir(), "t3-live-events-e2e-"));
  const port = await freePort();
  const webhookSecret = "e2e-webhook-secret-0123456789";
  const pingIntervalMs = 500;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    PORT: String(port),
    DATABASE_URL: "",
    PGLITE_DATA_DIR: join(dataDir, "pglite"),
    AUTH_SECRET: "e2e-secret-e2e-secret-e2e-secret-0123456789",
    AUTH_URL: `http://127.0.0.1:${port}`,
    AUTH_DEMO_LOGIN: "true",
    PAYMENTS_WEBHOOK_SECRET: webhookSecret,
    EVENTS_PING_INTERVAL_MS: String(pingIntervalMs),
    EVENTS_RECONNECT_AFTER_INACTIVITY_MS: "3000",
    EVENTS_MAX_CONNECTIONS_PER_USER: "20",
    ESCROW_JOB_INTERVAL_MS: "1000",
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? "warn",
  };

  if (process.env.E2E_SKIP_BUILD !== "1") {
    run(process.execPath, [join(root, "node_modules/next/dist/bin/next"), "build"], env, "next build");
  }
  run(process.execPath, ["--import", "tsx", join(root, "scripts/db-migrate.ts")], env, "db:migrate");

  const server: ChildProcess = spawn(
    process.execPath,
    [join(root, "node_modules/next/dist/bin/next"), "start", "-p", String(port), "-H", "127.0.0.1"],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  server.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (process.env.E2E_LOG_LEVEL) process.stdout.write(chunk);
  });
  server.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    process.stderr.write(chunk);
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`next start exited early:\n${output}`);
    try {
      const res = await fetch(`${baseUrl}/api/auth/csrf`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`next start did not answer within 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }

  project.provide("baseUrl", baseUrl);
  project.provide("webhookSecret", webhookSecret);
  project.provide("pingIntervalMs", pingIntervalMs);

  return async () => {
    server.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    if (server.exitCode === null) server.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  };
}
