import { defineConfig } from "prisma/config";

// The datasource URL is only read by the native Prisma CLI (`prisma migrate
// deploy` where its engine is available). This repo applies migrations with
// scripts/db-migrate.ts, which works offline and on embedded PGlite.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost:5432/unused" },
});
