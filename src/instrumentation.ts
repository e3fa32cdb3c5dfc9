/**
 * Runs once when the Next.js server starts, inside Next's bundle (where
 * Auth.js, Prisma and the tRPC router live): builds the process's runtime,
 * publishes it for server.ts and every route, and starts it.
 */
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { publishRuntime } = await import("~/server/runtime");
  const { createRuntime } = await import("~/server/runtime/runtime");
  const runtime = publishRuntime(() => createRuntime());
  try {
    await runtime.start();
  } catch (error) {
    // In a Node-only module: Next also compiles this file for the edge runtime, and warns on `process.exit` here.
    const { exitFatally } = await import("~/server/platform/logger");
    exitFatally("events.unavailable", error);
  }
}
