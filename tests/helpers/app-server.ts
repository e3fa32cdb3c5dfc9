/**
 * The production app as users run it: `next build`, migrate, `npm start` (server.ts) on
 * a free loopback port with a fresh embedded database, and sign-in through
 * Auth.js's credentials endpoint exactly as a browser form post. Shared by
 * the transport tests, the browser tests and the benchmark.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePort } from "./ports";
import { sleep } from "./wait";

export const root = join(import.meta.dirname, "..", "..");
const nextBin = join(root, "node_modules/next/dist/bin/next");

export interface AppServer {
  baseUrl: string;
  port: number;
  process: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`); removes the data folder. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartAppOptions {
  /** Environment on top of the defaults below. */
  env?: Record<string, string | undefined>;
  /** Run `next build` first (default true; E2E_SKIP_BUILD=1 or BENCH_SKIP_BUILD=1 reuse .next). */
  build?: boolean;
  /** Echo the server's output as it comes. */
  echo?: boolean;
  /** Also append the server's output to this file (tests read the logs from there). */
  logFile?: string;
  /** A command the server runs under, e.g. a CPU pin: `["taskset", "-c", "0"]`. */
  commandPrefix?: string[];
  /** Node options, e.g. `--expose-gc`. */
  nodeArgs?: string[];
  /** Listen here instead of a free port (a restart on the same address). */
  port?: number;
  /** A script and its arguments, run under tsx with the server's environment after the migrations (extra data). */
  seed?: string[];
  /** Keep the database here and leave it on stop (a restart keeps users and sessions valid). */
  dataDir?: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string) {
  const result = spawnSync(command, args, { cwd: root, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0)
    throw new Error(`${what} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
}

/** Builds (optionally), migrates and starts the production server; resolves once it answers. */
export async function startApp(options: StartAppOptions = {}): Promise<AppServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "t3-live-events-app-"));
  const port = options.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    PORT: String(port),
    DATABASE_URL: "",
    PGLITE_DATA_DIR: join(dataDir, "pglite"),
    AUTH_SECRET: "test-app-secret-test-app-secret-0123456789",
    AUTH_URL: `http://127.0.0.1:${port}`,
    AUTH_DEMO_LOGIN: "true",
    // Lets a test or the benchmark reach tRPC's stock SSE handler for comparison.
    EVENTS_ALLOW_STOCK_SSE: "true",
    // The production default (vitest's in-process projects use the memory log).
    EVENTS_REPLAY_LOG: "database",
    LOG_LEVEL: "warn",
    ...options.env,
  };
  // Built as an image is, without its secrets: they are required at start only.
  if (options.build ?? true)
    run(process.execPath, [nextBin, "build"], { ...env, AUTH_SECRET: undefined }, "next build");
  run(process.execPath, ["--import", "tsx", join(root, "scripts/db-migrate.ts")], env, "db:migrate");
  if (options.seed) run(process.execPath, ["--import", "tsx", ...options.seed], env, "seed");

  const [command, ...prefixArgs] = [...(options.commandPrefix ?? []), process.execPath];
  const child = spawn(
    command,
    [...prefixArgs, ...(options.nodeArgs ?? []), "--import", "tsx/esm", join(root, "server.ts")],
    {
      cwd: root,
      env: { HOSTNAME: "127.0.0.1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (options.logFile) appendFileSync(options.logFile, chunk);
    if (options.echo) process.stdout.write(chunk);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (options.logFile) appendFileSync(options.logFile, chunk);
    process.stderr.write(chunk);
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited early:\n${output}`);
    try {
      if ((await fetch(`${baseUrl}/api/auth/csrf`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server did not answer within 60 s:\n${output}`);
    await sleep(250);
  }

  return {
    baseUrl,
    port,
    process: child,
    output: () => output,
    stop: async (signal = "SIGTERM", graceMs = 5_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Signs in with the demo login exactly as a browser form post would; returns the Cookie header. */
export async function signIn(
  baseUrl: string,
  email: string,
  password = "demo",
  headers: Record<string, string> = {},
): Promise<string> {
  const csrfRes = await fetch(`${baseUrl}/api/auth/csrf`, { headers });
  const { csrfToken } = (await csrfRes.json()) as { csrfToken: string };
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const eq = pair!.indexOf("=");
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  };
  keep(csrfRes);
  const res = await fetch(`${baseUrl}/api/auth/callback/demo`, {
    method: "POST",
    redirect: "manual",
    headers: {
      ...headers,
      "content-type": "application/x-www-form-urlencoded",
      cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
    },
    body: new URLSearchParams({ csrfToken, email, password, callbackUrl: "/" }),
  });
  keep(res);
  // Over HTTPS (a TLS proxy says so) Auth.js names it with the `__Secure-` prefix.
  if (!jar.has("authjs.session-token") && !jar.has("__Secure-authjs.session-token")) {
    throw new Error(`sign-in as ${email} failed: ${res.status} ${res.headers.get("location") ?? ""}`);
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
}

/** Signs out through Auth.js's sign-out endpoint, as the page's button does. */
export async function signOut(baseUrl: string, cookie: string): Promise<void> {
  const { csrfToken } = (await (await fetch(`${baseUrl}/api/auth/csrf`, { headers: { cookie } })).json()) as {
    csrfToken: string;
  };
  const res = await fetch(`${baseUrl}/api/auth/signout`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie },
    body: new URLSearchParams({ csrfToken, callbackUrl: "/" }),
  });
  if (res.status >= 400) throw new Error(`sign-out failed: ${res.status}`);
}
