/**
 * The production server's settings come through the one env schema
 * (src/env.js), from the shell or a `.env` file alike, and a bad value stops
 * start-up naming it. Run against the build the e2e setup made without
 * AUTH_SECRET, as an image is built.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";

import { root } from "../helpers/app-server";
import { freePort } from "../helpers/ports";
import { waitUntil } from "../helpers/wait";

/** Read by `npm start` (server.ts loads `.env` files as Next does); removed after each test. */
const envFile = join(root, ".env.production.local");
const children: ChildProcess[] = [];

afterEach(async () => {
  rmSync(envFile, { force: true });
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
});

/** `npm start` as a user runs it, with these arguments and without the shell settings the file should give. */
function start(args: string[] = [], env: Record<string, string> = {}) {
  const shell: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["PORT", "TRUST_PROXY_HOPS", "AUTH_URL"]) delete shell[name];
  const child = spawn(process.execPath, ["--import", "tsx/esm", join(root, "server.ts"), ...args], {
    cwd: root,
    env: {
      ...shell,
      NODE_ENV: "production",
      HOSTNAME: "127.0.0.1",
      AUTH_SECRET: "configuration-test-secret-0123456789abcdef",
      PGLITE_DATA_DIR: join(tmpdir(), `t3-live-events-config-${randomUUID()}`),
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

async function answers(port: number, headers: Record<string, string> = {}) {
  let response: Response | undefined;
  await waitUntil(
    async () => {
      response = await fetch(`http://127.0.0.1:${port}/api/auth/csrf`, { headers }).catch(() => undefined);
      return response?.ok === true;
    },
    `the server answers on port ${port}`,
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return response!;
}

describe("settings", () => {
  it("PORT and TRUST_PROXY_HOPS in .env reach the server", async () => {
    const port = await freePort();
    writeFileSync(envFile, `PORT=${port}\nTRUST_PROXY_HOPS=1\n`);
    start();
    // Behind one proxy of ours, its X-Forwarded-Proto is believed: the answer carries HSTS.
    const response = await answers(port, { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7" });
    expect(response.headers.get("strict-transport-security")).toContain("max-age=");
  });

  it("`npm start -- -p PORT` chooses the port, over .env", async () => {
    const [port, other] = [await freePort(), await freePort()];
    writeFileSync(envFile, `PORT=${other}\n`);
    start(["-p", String(port)]);
    const response = await answers(port, { "x-forwarded-proto": "https" });
    // No proxy of ours configured: a client's X-Forwarded-Proto is not believed.
    expect(response.headers.get("strict-transport-security")).toBeNull();
  });

  it.each([
    ["TRUST_PROXY_HOPS", "one"],
    ["EVENTS_ALLOW_STOCK_SSE", "yes"],
    ["PORT", "70000"],
  ])("a bad %s (%s) stops start-up, naming it", async (name, value) => {
    writeFileSync(envFile, `${name}=${value}\n`);
    const { child, output } = start();
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).not.toBe(0);
    expect(output()).toMatch(/Invalid environment variables/);
    expect(output()).toContain(name);
  });
});
