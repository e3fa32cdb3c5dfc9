// Runs `prisma generate` without network access.
//
// The Prisma 7 CLI resolves (and, when missing, downloads) its native schema
// engine on start-up even though `generate` never uses it. Pointing
// PRISMA_SCHEMA_ENGINE_BINARY at a stub executable satisfies that check, so a
// fresh `npm install` works offline. Migrations use the WASM engine instead
// (scripts/db-migrate.ts).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const stubDir = join(tmpdir(), "prisma-engine-stub");
const stub = join(stubDir, "schema-engine");
if (!existsSync(stub)) {
  mkdirSync(stubDir, { recursive: true });
  writeFileSync(stub, "#!/bin/sh\necho 'schema-engine stub: not used by prisma generate' >&2\nexit 1\n");
  chmodSync(stub, 0o755);
}

const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? stub,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  CHECKPOINT_DISABLE: "1",
};
const result = spawnSync(process.execPath, [join(root, "node_modules", "prisma", "build", "index.js"), "generate"], {
  cwd: root,
  env,
  stdio: "inherit",
});
if (result.status !== 0) {
  console.error("prisma generate failed; see the output above");
  process.exit(result.status ?? 1);
}
