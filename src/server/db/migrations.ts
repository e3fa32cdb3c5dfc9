/**
 * Applies Prisma migrations without the native Prisma CLI.
 *
 * The Prisma 7 CLI downloads a native schema engine on start, which fails
 * offline. `@prisma/schema-engine-wasm` is the same engine compiled to WASM;
 * driven through a driver adapter it applies `prisma/migrations` exactly like
 * `prisma migrate deploy` (it records `_prisma_migrations` the same way), on
 * embedded PGlite and on a real PostgreSQL alike.
 */
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import type { MigrationList, SchemaEngine } from "@prisma/schema-engine-wasm";

const projectRoot = resolve(process.env.PROJECT_ROOT ?? process.cwd());
export const schemaPath = join(projectRoot, "prisma", "schema.prisma");
export const migrationsDir = join(projectRoot, "prisma", "migrations");

// eslint-disable-next-line @typescript-eslint/consistent-type-imports -- the module is loaded by hand below, never imported
let wasmReady: Promise<typeof import("@prisma/schema-engine-wasm/schema_engine_bg")> | undefined;

/** Node 20 cannot `import` a .wasm file, so the module is instantiated by hand. */
function loadEngineModule() {
  wasmReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const bgPath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const bg = await import("@prisma/schema-engine-wasm/schema_engine_bg");
    const bytes = readFileSync(bgPath.replace(/\.js$/, ".wasm"));
    const { instance } = await WebAssembly.instantiate(bytes, { "./schema_engine_bg.js": bg });
    const exports = instance.exports as Record<string, unknown> & { __wbindgen_start?: () => void };
    bg.__wbg_set_wasm(exports);
    exports.__wbindgen_start?.();
    return bg;
  })();
  return wasmReady;
}

/**
 * Runs `work` with a schema engine on the adapter's database, then frees the
 * engine and closes the connections it opened: `free()` alone leaves them
 * open, and an open one keeps holding Prisma's migration advisory lock (the
 * next engine would wait 10 s for it on PostgreSQL).
 */
async function withSchemaEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const bg = await loadEngineModule();
  const opened: SqlDriverAdapter[] = [];
  const tracked = async (connect: () => Promise<SqlDriverAdapter>) => {
    const adapter = await connect();
    opened.push(adapter);
    return adapter;
  };
  const trackingFactory: SqlMigrationAwareDriverAdapterFactory = {
    provider: adapterFactory.provider,
    adapterName: adapterFactory.adapterName,
    connect: () => tracked(() => adapterFactory.connect()),
    connectToShadowDb: () => tracked(() => adapterFactory.connectToShadowDb()),
  };
  const engine = await bg.SchemaEngine.new(
    { datamodels: [[schemaPath, readFileSync(schemaPath, "utf8")]] },
    () => {},
    bindMigrationAwareSqlAdapterFactory(trackingFactory),
  );
  try {
    return await work(engine);
  } finally {
    engine.free();
    // (PGlite's adapter dispose is a no-op: its one client stays with the app.)
    await Promise.allSettled(opened.map((adapter) => adapter.dispose()));
  }
}

/** Reads prisma/migrations in the shape the engine expects (as the CLI does). */
export function readMigrationList(dir = migrationsDir): MigrationList {
  const lockPath = join(dir, "migration_lock.toml");
  const directories = existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => statSync(join(dir, name)).isDirectory())
        .sort()
    : [];
  return {
    baseDir: dir,
    lockfile: {
      path: "migration_lock.toml",
      content: existsSync(lockPath) ? readFileSync(lockPath, "utf8") : null,
    },
    shadowDbInitScript: "",
    migrationDirectories: directories.map((name) => {
      const file = join(dir, name, "migration.sql");
      return {
        path: name,
        migrationFile: {
          path: "migration.sql",
          content: existsSync(file)
            ? { tag: "ok" as const, value: readFileSync(file, "utf8") }
            : { tag: "error" as const, value: `missing ${file}` },
        },
      };
    }),
  };
}

export async function applyMigrations(adapterFactory: SqlMigrationAwareDriverAdapterFactory): Promise<string[]> {
  return withSchemaEngine(adapterFactory, async (engine) => {
    const out = await engine.applyMigrations({
      migrationsList: readMigrationList(),
      filters: { externalTables: [], externalEnums: [] },
    });
    return out.appliedMigrationNames;
  });
}

/**
 * SQL that takes the database described by the existing migrations to the
 * current schema.prisma (what `prisma migrate dev --create-only` writes).
 * Replays the migrations on the adapter's shadow database.
 */
export async function diffMigrationsToSchema(adapterFactory: SqlMigrationAwareDriverAdapterFactory): Promise<string> {
  return withSchemaEngine(adapterFactory, async (engine) => {
    const list = readMigrationList();
    const from =
      list.migrationDirectories.length === 0 ? ({ tag: "empty" } as const) : ({ tag: "migrations", ...list } as const);
    const result = await engine.diff({
      from,
      to: {
        tag: "schemaDatamodel",
        files: [{ path: schemaPath, content: readFileSync(schemaPath, "utf8") }],
      },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.stdout ?? "";
  });
}
