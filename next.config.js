import { PHASE_PRODUCTION_BUILD } from "next/constants.js";

/** @type {import("next").NextConfig} */
const config = {
  // Loaded from node_modules at run time instead of bundled: PGlite and the
  // Prisma schema engine read their own .wasm/.data files next to their code;
  // rate-limiter-flexible must be one copy for the process (its limiters and
  // the errors they throw are shared by every route bundle); ioredis keeps its
  // connections in the one process-wide event layer.
  serverExternalPackages: [
    "@electric-sql/pglite",
    "pglite-prisma-adapter",
    "@prisma/adapter-pg",
    "pg",
    "pino",
    "rate-limiter-flexible",
    "ioredis",
  ],
  poweredByHeader: false,
};

/**
 * Validates the environment (src/env.js) when the app starts or runs in
 * development. An image is built without its secrets: during `next build`
 * they are not required (env.js reads the phase), and `npm start` refuses to
 * start without them, naming each.
 * @param {string} phase
 */
export default async function nextConfig(phase) {
  if (phase === PHASE_PRODUCTION_BUILD) process.env.NEXT_PHASE ??= phase;
  await import("./src/env.js");
  return config;
}
