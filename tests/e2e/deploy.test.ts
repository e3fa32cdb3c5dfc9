/**
 * What ships for a deployment, checked as far as this machine allows (no
 * container engine): docker-compose.yml passes Debian's `docker-compose
 * config`, and deploy/nginx.conf runs for real on Debian's nginx in front of
 * the production server, with only hosts, ports and file paths rewritten:
 * HTTP/2 over TLS to the client, the event stream unbuffered, plain HTTP
 * redirected to HTTPS.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect, type ClientHttp2Session } from "node:http2";
import { join } from "node:path";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { root } from "../helpers/app-server";
import { hasNginx, nginxPath, startNginxConfig } from "../helpers/nginx";
import { freePort } from "../helpers/ports";
import { baseUrl, signIn, trpcClient, until } from "./http-client";

const composePath = process.env.DOCKER_COMPOSE_PATH ?? "/usr/bin/docker-compose";
const hasCompose = existsSync(composePath);
const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
if (!hasCompose)
  console.warn(`[deploy] compose check SKIPPED: needs ${composePath} (Debian's docker-compose; .ci/run installs it)`);
if (!hasNginx || !hasOpenssl)
  console.warn(`[deploy] nginx check SKIPPED: needs ${nginxPath} and openssl; .ci/run installs them`);

describe.skipIf(!hasCompose)("docker-compose.yml", () => {
  it("is a valid compose file: PostgreSQL, Redis, two app instances on both, nginx in front", () => {
    const run = (env: Record<string, string>) =>
      spawnSync(composePath, ["-f", join(root, "docker-compose.yml"), "config"], {
        cwd: root,
        env: { ...process.env, ...env },
        encoding: "utf8",
      });
    // The secrets are required: without them the file says which is missing.
    const missing = run({ AUTH_SECRET: "", PAYMENTS_WEBHOOK_SECRET: "" });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/AUTH_SECRET/);

    const ok = run({ AUTH_SECRET: "compose-check-secret", PAYMENTS_WEBHOOK_SECRET: "compose-check-webhook" });
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const services = ok.stdout.match(/^ {2}([a-z-]+):$/gm)?.map((s) => s.trim().slice(0, -1));
    expect(services).toEqual(expect.arrayContaining(["postgres", "redis", "app-a", "app-b", "nginx"]));
    for (const name of ["app-a", "app-b"]) {
      const block = ok.stdout.slice(ok.stdout.indexOf(`  ${name}:`)).split(/\n {2}[a-z]/)[0]!;
      expect(block).toContain("REDIS_URL: redis://redis:6379");
      expect(block).toContain("DATABASE_URL: postgresql://t3:t3@postgres:5432/t3");
    }
  });
});

describe.skipIf(!hasCompose)("docker-compose.yml can be signed into", () => {
  it("the documented demo switch reaches both instances, which then seed and accept the demo users", () => {
    const header = readFileSync(join(root, "docker-compose.yml"), "utf8").split("\nx-app")[0]!;
    expect(header).toContain("AUTH_DEMO_LOGIN=true");
    const config = spawnSync(composePath, ["-f", join(root, "docker-compose.yml"), "config"], {
      cwd: root,
      env: { ...process.env, AUTH_SECRET: "s", PAYMENTS_WEBHOOK_SECRET: "w", AUTH_DEMO_LOGIN: "true" },
      encoding: "utf8",
    });
    expect(config.status).toBe(0);
    for (const name of ["app-a", "app-b"]) {
      const block = config.stdout.slice(config.stdout.indexOf(`  ${name}:`)).split(/\n {2}[a-z]/)[0]!;
      expect(block).toMatch(/AUTH_DEMO_LOGIN: "?true"?/);
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));

  it("builds in one stage and runs in another, as an unprivileged user, with node as PID 1", () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    // The build stage has no secrets: `npm run build` needs none.
    expect(dockerfile).not.toMatch(/AUTH_SECRET/);
    expect(finalStage).toMatch(/^USER node$/m);
    const cmd = /^CMD (\[.*\])$/m.exec(finalStage)?.[1];
    const argv = JSON.parse(cmd!) as string[];
    // A shell that `exec`s node (the migrations first), or node itself: SIGTERM reaches the server's drain.
    expect(argv[0] === "node" || argv.at(-1)!.includes("&& exec node ")).toBe(true);
    expect(argv.join(" ")).toContain("server.ts");
  });

  it("keeps .env files out of the image", () => {
    const ignored = readFileSync(join(root, ".dockerignore"), "utf8").split("\n");
    expect(ignored).toContain(".env*");
  });
});

describe.skipIf(!hasNginx || !hasOpenssl)("deploy/nginx.conf on Debian's nginx", () => {
  let nginx: Awaited<ReturnType<typeof startNginxConfig>>;
  let httpsPort: number;
  let httpPort: number;

  beforeAll(async () => {
    const appPort = new URL(baseUrl()).port;
    [httpsPort, httpPort] = [await freePort(), await freePort()];
    const source = readFileSync(join(root, "deploy", "nginx.conf"), "utf8");
    nginx = await startNginxConfig(source, (conf, dir) => {
      const made = spawnSync("openssl", [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
        ...["-keyout", `${dir}/tls.key`, "-out", `${dir}/tls.crt`],
      ]);
      if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
      return conf
        .replace(/server app-[ab]:3000/g, `server 127.0.0.1:${appPort}`)
        .replace("listen 80;", `listen 127.0.0.1:${httpPort};`)
        .replace("listen 443 ssl http2;", `listen 127.0.0.1:${httpsPort} ssl http2;`)
        .replaceAll("/etc/nginx/certs/", `${dir}/`)
        .replace("worker_processes auto;", "worker_processes 1;");
    });
  });

  afterAll(async () => {
    await nginx?.stop();
  });

  it("serves the event stream over HTTP/2 and TLS, unbuffered, and redirects plain HTTP to HTTPS", async () => {
    const cookie = await signIn("alice@acme.test");
    const session: ClientHttp2Session = connect(`https://127.0.0.1:${httpsPort}`, { rejectUnauthorized: false });
    try {
      await new Promise<void>((resolve, reject) => session.once("connect", () => resolve()).once("error", reject));
      expect(session.alpnProtocol).toBe("h2");

      const input = encodeURIComponent(JSON.stringify(superjson.serialize({ names: ["notification.created"] })));
      const stream = session.request({
        ":path": `/api/trpc/events.onEvent?input=${input}`,
        accept: "text/event-stream",
        cookie,
      });
      let status = 0;
      let contentType = "";
      let body = "";
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
        contentType = String(headers["content-type"]);
      });
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => (body += chunk));
      await until(() => body.includes("system.ready"), "system.ready over HTTP/2");
      expect(status).toBe(200);
      expect(contentType).toMatch(/^text\/event-stream/);

      const message = `over h2 ${Date.now()}`;
      const sentAt = performance.now();
      await trpcClient(cookie).client.notification.send.mutate({ target: { kind: "self" }, message });
      await until(() => body.includes(message), "the event over HTTP/2", 5_000, 1);
      const ms = performance.now() - sentAt;
      console.log(`[deploy] emit → receive through deploy/nginx.conf over HTTP/2: ${ms.toFixed(1)} ms`);
      expect(ms).toBeLessThan(1_000); // not held in a proxy buffer
      stream.close();
    } finally {
      session.close();
    }

    const plain = await fetch(`http://127.0.0.1:${httpPort}/orders`, { redirect: "manual" });
    expect(plain.status).toBe(301);
    expect(plain.headers.get("location")).toMatch(/^https:\/\//);
  });
});
