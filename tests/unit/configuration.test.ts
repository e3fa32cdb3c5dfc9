/** `.env.example` and docs/configuration.md list every variable the env schema (src/env.js) reads. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const read = (file: string) => readFileSync(join(root, file), "utf8");
const schemaVariables = [...new Set([...read("src/env.js").matchAll(/^ {4}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]!))];

describe("configuration", () => {
  it("reads a few dozen variables (the pattern still finds the schema's keys)", () => {
    expect(schemaVariables.length).toBeGreaterThan(40);
  });

  it.each(schemaVariables)("%s is in .env.example and docs/configuration.md", (name) => {
    expect(read(".env.example")).toMatch(new RegExp(`^# ${name}=`, "m"));
    expect(read("docs/configuration.md")).toContain(`\`${name}\``);
  });
});
