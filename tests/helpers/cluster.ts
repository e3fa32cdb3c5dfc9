/**
 * A small deployment on loopback for the scale-out tests: one PostgreSQL
 * database of its own, one redis-server, two production app instances on
 * both, and nginx in front of them.
 */
import { startApp, type AppServer } from "./app-server";
import { hasNginx, nginxPath, startNginx, type Nginx } from "./nginx";
import { createTestDatabase, testDatabaseAdminUrl } from "./postgres";
import { hasRedis, redisServerPath, startRedis, type RedisServer } from "./redis";

/** What this machine lacks for a cluster (empty when it has everything); `.ci/run` provides it all. */
export const clusterMissing: string[] = [
  !hasRedis && `redis-server (${redisServerPath})`,
  !hasNginx && `nginx (${nginxPath})`,
  !testDatabaseAdminUrl && "TEST_DATABASE_URL (two instances need PostgreSQL)",
].filter((reason): reason is string => typeof reason === "string");

export interface Cluster {
  database: Awaited<ReturnType<typeof createTestDatabase>>;
  redis: RedisServer;
  a: AppServer;
  b: AppServer;
  nginx: Nginx;
}

export async function startCluster(options: {
  name: string;
  /** The instances' environment, given where the database and Redis are. */
  env: (where: { databaseUrl: string; redisUrl: string }) => Record<string, string>;
  persistentRedis?: boolean;
  proxyReadTimeoutSeconds?: number;
}): Promise<Cluster> {
  const database = await createTestDatabase(options.name);
  const redis = await startRedis({ persistent: options.persistentRedis });
  const env = options.env({ databaseUrl: database.url, redisUrl: redis.url });
  const a = await startApp({ build: false, env });
  const b = await startApp({ build: false, env });
  const nginx = await startNginx([a.port, b.port], { readTimeoutSeconds: options.proxyReadTimeoutSeconds });
  return { database, redis, a, b, nginx };
}

/** Stops what `startCluster` started (pass the instances a test may have replaced). */
export async function stopCluster(cluster: Partial<Cluster>): Promise<void> {
  await cluster.nginx?.stop();
  await Promise.all([cluster.a?.stop(), cluster.b?.stop()]);
  await cluster.redis?.stop();
  await cluster.database?.drop();
}
