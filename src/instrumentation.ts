/** Runs once when the Next.js server starts: background jobs and the SSE fast path live here. */
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { env } = await import("~/env");
  const { connectEventLayer } = await import("~/server/event-layer");
  try {
    await connectEventLayer();
  } catch (error) {
    // In a Node-only module: Next also compiles this file for the edge runtime, and warns on `process.exit` here.
    const { exitFatally } = await import("~/server/logger");
    exitFatally("events.unavailable", error);
  }
  // Sign-ins ended on another instance end their streams here too.
  const { listenToControl } = await import("~/server/cluster-control");
  const { endedHere } = await import("~/server/auth/sign-in-sessions");
  await listenToControl((message) => endedHere(message.sessionIds, message.reason));
  const { demoLoginEnabled } = await import("~/server/auth/config");
  if (demoLoginEnabled && env.NODE_ENV === "production") {
    const { logger } = await import("~/server/logger");
    logger.warn(
      { event: "auth.demo_login_enabled" },
      "AUTH_DEMO_LOGIN=true in production: anyone can sign in as a demo user with the password 'demo'",
    );
  }
  // Publishes what committed transactions recorded, including rows a crash left behind.
  const { outboxRelay, wakeOnCommit } = await import("~/server/outbox");
  const { db } = await import("~/server/db");
  const relay = outboxRelay(db);
  relay.start();
  if (env.DATABASE_URL && env.OUTBOX_RELAY) await wakeOnCommit(env.DATABASE_URL, relay);
  const { startEscrowReleaseJob } = await import("~/server/jobs/escrow-release");
  startEscrowReleaseJob(env.ESCROW_JOB_INTERVAL_MS);
  const { installSseFastPath } = await import("~/server/sse/install");
  installSseFastPath();
  const { installTrpcNodeHandler } = await import("~/server/http/trpc-node");
  installTrpcNodeHandler();
}
