/**
 * A real redis-server (Debian's) on a free loopback port, persistent or not,
 * started and stopped by the tests that claim to test Redis. `.ci/run`
 * installs the package; without it those tests are skipped and say why.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePort } from "./ports";
import { waitUntil } from "./wait";

export const redisServerPath = process.env.REDIS_SERVER_PATH ?? "/usr/bin/redis-server";
export const hasRedis = existsSync(redisServerPath);

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server (SIGKILL: as a crash); `start` brings it back on the same port (empty unless persistent). */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(options: { port?: number; persistent?: boolean } = {}): Promise<RedisServer> {
  const listenPort = options.port ?? (await freePort());
  // Persistent: every write is on disk before Redis answers, so a SIGKILL loses nothing it acknowledged.
  const persistence = options.persistent
    ? ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
    : ["--save", "", "--appendonly", "no"];
  const dir = mkdtempSync(join(tmpdir(), "t3-live-events-redis-"));
  let child: ChildProcess | null = null;

  const ping = () =>
    spawnSync("redis-cli", ["-p", String(listenPort), "ping"], { encoding: "utf8" }).stdout.trim() === "PONG";

  const start = async () => {
    child = spawn(
      redisServerPath,
      ["--port", String(listenPort), "--bind", "127.0.0.1", ...persistence, "--dir", dir],
      { stdio: "ignore" },
    );
    await waitUntil(ping, `redis-server on port ${listenPort}`, { timeoutMs: 10_000, intervalMs: 50 });
  };
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    const running = child;
    child = null;
    if (running?.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill(signal);
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${listenPort}`,
    port: listenPort,
    kill: () => kill("SIGKILL"),
    start,
    stop: async () => {
      await kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
