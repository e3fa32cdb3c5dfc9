/**
 * Debian's nginx in front of app instances, as a deployment would put it:
 * round robin over the upstreams, no response buffering (SSE), a failed
 * upstream skipped. Runs in the foreground with every path in a temp folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePort } from "./ports";
import { waitUntil } from "./wait";

export const nginxPath = process.env.NGINX_PATH ?? "/usr/sbin/nginx";
export const hasNginx = existsSync(nginxPath);

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

export async function startNginx(
  upstreamPorts: number[],
  /** proxy_read_timeout: a stream silent this long is cut by the proxy (heartbeats prevent it). */
  options: { readTimeoutSeconds?: number } = {},
): Promise<Nginx> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "t3-live-events-nginx-"));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app {
${upstreamPorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=30s;`).join("\n")}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;
      proxy_read_timeout ${options.readTimeoutSeconds ?? 3600}s;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
    }
  }
}
`,
  );
  const stop = await runNginx(dir, conf);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    stop,
  };
}

/**
 * Runs a configuration written for a deployment (deploy/nginx.conf) on
 * loopback: `rewrite` turns its hosts, ports and file paths into this
 * machine's; logs, pid and temp files go to a temp folder.
 */
export async function startNginxConfig(
  source: string,
  rewrite: (conf: string, dir: string) => string,
): Promise<{ dir: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "t3-live-events-nginx-"));
  const local = rewrite(source, dir).replace(
    /http \{/,
    `http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;`,
  );
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, local);
  return { dir, stop: await runNginx(dir, conf, [`pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;`]) };
}

/** Starts nginx in the foreground; resolves once every port it listens on accepts, with its stop function. */
async function runNginx(dir: string, conf: string, globals: string[] = []): Promise<() => Promise<void>> {
  const ports = [...readFileSync(conf, "utf8").matchAll(/listen 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  const child: ChildProcess = spawn(nginxPath, ["-p", dir, "-c", conf, "-g", ["daemon off;", ...globals].join(" ")], {
    stdio: "inherit",
  });
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
      const open = await Promise.all(ports.map((port) => accepts(port)));
      return open.every(Boolean);
    },
    "nginx to listen",
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      // Graceful first; a graceful nginx waits for open streams, so then the fast stop.
      child.kill("SIGQUIT");
      const fast = setTimeout(() => child.kill("SIGTERM"), 2_000);
      await exited;
      clearTimeout(fast);
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
