import pg from "pg";

import { logger } from "~/server/platform/logger";

/** Held for the life of the process that owns the database log. */
const OWNER_LOCK = 7_413_003;

/**
 * On PostgreSQL, makes this process the database log's one owner: a session
 * advisory lock on a connection of its own, held until the process exits. A
 * second instance on the same database without Redis would number events
 * on its own and clash with this one's ids, so it is refused at start with
 * an error that says what to do. (PGlite enforces one process by itself.)
 */
export async function claimDatabaseLog(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [OWNER_LOCK]);
  if (!rows[0]?.locked) {
    await client.end();
    throw new Error(
      "another instance already keeps its event history in this database (DATABASE_URL) without Redis; several instances need REDIS_URL, so they share one event stream",
    );
  }
  // Losing the connection loses the lock: say so loudly (another instance could then start and clash).
  client.on("error", (error) =>
    logger.error(
      { event: "events.log_lock_lost", message: error.message },
      "lost the database log's ownership lock; restart this instance",
    ),
  );
}
