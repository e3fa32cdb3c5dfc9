/**
 * One production server (`next build` + `next start`, fresh embedded
 * database) for the transport and browser tests. E2E_SKIP_BUILD=1 reuses .next.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

import { startApp } from "../helpers/app-server";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    webhookSecret: string;
    pingIntervalMs: number;
    /** The shared server's log (JSON lines, level info). */
    serverLogFile: string;
    /** The shared server's process id (memory checks read /proc). */
    serverPid: number;
  }
}

export default async function setup(project: TestProject) {
  const webhookSecret = "e2e-webhook-secret-0123456789";
  const pingIntervalMs = 500;
  const logDir = mkdtempSync(join(tmpdir(), "t3-live-events-logs-"));
  const serverLogFile = join(logDir, "server.log");
  const server = await startApp({
    logFile: serverLogFile,
    build: process.env.E2E_SKIP_BUILD !== "1",
    echo: process.env.E2E_LOG_LEVEL !== undefined,
    env: {
      PAYMENTS_WEBHOOK_SECRET: webhookSecret,
      EVENTS_PING_INTERVAL_MS: String(pingIntervalMs),
      EVENTS_RECONNECT_AFTER_INACTIVITY_MS: "3000",
      EVENTS_MAX_CONNECTIONS_PER_USER: "20",
      // Every test signs in and connects from 127.0.0.1; the limits themselves are tried in limits.test.ts.
      RATE_LIMIT_SIGNINS_PER_IP: "1000",
      RATE_LIMIT_STREAM_OPENS_PER_IP: "100000",
      ESCROW_JOB_INTERVAL_MS: "1000",
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? "info",
    },
  });
  project.provide("baseUrl", server.baseUrl);
  project.provide("webhookSecret", webhookSecret);
  project.provide("pingIntervalMs", pingIntervalMs);
  project.provide("serverLogFile", serverLogFile);
  project.provide("serverPid", server.process.pid!);
  return async () => {
    await server.stop("SIGTERM", 1_000);
    rmSync(logDir, { recursive: true, force: true });
  };
}
