/**
 * Importing env.js validates the environment at build and start.
 */
import "./src/env.js";

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

export default config;
