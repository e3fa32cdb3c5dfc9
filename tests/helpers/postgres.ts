/**
 * A database of its own on the PostgreSQL that TEST_DATABASE_URL names (a
 * role that may CREATE DATABASE; `.ci/run` starts Debian's postgresql and
 * sets it). Tests without it are skipped and say why.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";

export const testDatabaseAdminUrl = process.env.TEST_DATABASE_URL;

async function asAdmin(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: testDatabaseAdminUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** Creates an empty database; `drop` removes it, closing whatever is still connected. */
export async function createTestDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (!testDatabaseAdminUrl) throw new Error("TEST_DATABASE_URL is not set");
  const name = `t3le_${label}_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  await asAdmin(`CREATE DATABASE "${name}"`);
  const url = new URL(testDatabaseAdminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => asAdmin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
