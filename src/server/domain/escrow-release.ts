/**
 * A background job that publishes onto the bus outside any request: it
 * releases escrow for delivered orders once their hold expired.
 */
import { db } from "~/server/db";
import { logger } from "~/server/platform/logger";
import { releaseDueEscrows } from "~/server/domain/orders";

/** Starts the job (the runtime does, once); returns its stop function. */
export function startEscrowReleaseJob(intervalMs: number): () => void {
  if (intervalMs <= 0) return () => {};
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const released = await releaseDueEscrows(db);
      if (released > 0) logger.info({ event: "job.escrow_release", released }, "escrow released");
    } catch (error) {
      logger.error({ event: "job.escrow_release.failed", err: error }, "escrow release job failed");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  logger.info({ event: "job.started", job: "escrow_release", intervalMs }, "background job started");
  return () => clearInterval(timer);
}
