/**
 * Debian's nginx in front of app instances, as a deployment would put it:
 * round robin over the upstreams, no response buffering (SSE), a failed
 * upstream skipped. Runs in the foreground with every path in a temp folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
  const child: ChildProcess = spawn(nginxPath, ["-p", dir, "-c", conf, "-g", "daemon off;"], { stdio: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      try {
        await fetch(`${url}/api/auth/csrf`);
        return true;
      } catch {
        return false;
      }
    },
    "nginx to answer",
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGQUIT");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
