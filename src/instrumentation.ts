/** Runs once when the Next.js server starts: background jobs and the SSE fast path live here. */
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { env } = await import("~/env");
  const { startEscrowReleaseJob } = await import("~/server/jobs/escrow-release");
  startEscrowReleaseJob(env.ESCROW_JOB_INTERVAL_MS);
  const { installSseFastPath } = await import("~/server/sse/install");
  installSseFastPath();
}
