/**
 * `npm run catalog:snapshot`: records additive catalog changes in
 * src/server/events/catalog-contract.json. Refuses breaking changes: those need
 * a new event name or version (see the change policy in src/server/domain/catalog.ts).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { eventCatalog } from "~/server/domain/catalog";
import { additions, breakingChanges, contractOf, type CatalogContract } from "~/server/events/catalog-contract";

const file = join(process.cwd(), "src/server/events/catalog-contract.json");
const published: CatalogContract = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as CatalogContract) : {};
const next = contractOf(eventCatalog);
const violations = breakingChanges(published, next);
if (violations.length > 0) {
  console.error("Refusing to record breaking catalog changes:");
  for (const v of violations) console.error(`  ${v.event}${v.field ? `.${v.field}` : ""}: ${v.problem}`);
  process.exit(1);
}
writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`);
const added = additions(published, next);
console.log(added.length ? `recorded: ${added.join(", ")}` : "catalog-contract.json is up to date");
