/**
 * The catalog's published contract and the change-policy check:
 * additive changes are safe; breaking ones need a new event name or version.
 *
 * `catalog-contract.json` is the contract as last published. The test in
 * tests/unit/catalog-contract.test.ts fails when the catalog breaks it, and
 * `npm run catalog:snapshot` records additive changes (and refuses breaking ones).
 */
import { z } from "zod";

import type { EventDefinition } from "./catalog";

type JsonSchema = Record<string, unknown>;

export interface ContractEntry {
  version: number;
  audience: string;
  payload: { properties: Record<string, JsonSchema>; required: string[] };
  derived: { properties: Record<string, JsonSchema>; required: string[] };
}

export type CatalogContract = Record<string, ContractEntry>;

function shape(schema: z.ZodObject | undefined): ContractEntry["payload"] {
  if (!schema) return { properties: {}, required: [] };
  const json = z.toJSONSchema(schema, { io: "input" }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return { properties: json.properties ?? {}, required: [...(json.required ?? [])].sort() };
}

export function contractOf(catalog: Readonly<Record<string, EventDefinition>>): CatalogContract {
  const contract: CatalogContract = {};
  for (const name of Object.keys(catalog).sort()) {
    const definition = catalog[name]!;
    contract[name] = {
      version: definition.version,
      audience: definition.audience,
      payload: shape(definition.payload),
      derived: shape(definition.derived?.schema),
    };
  }
  return contract;
}

export interface ContractViolation {
  event: string;
  field?: string;
  problem: string;
}

// Constraints may be tuned without a new version; the type may not.
const CONSTRAINT_KEYWORDS = new Set([
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "pattern",
  "minItems",
  "maxItems",
  "description",
  "default",
  "examples",
  "$schema",
]);

function typeOnly(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(typeOnly);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema).sort()) {
    if (!CONSTRAINT_KEYWORDS.has(key)) out[key] = typeOnly((schema as Record<string, unknown>)[key]);
  }
  return out;
}

const stable = (value: unknown) => JSON.stringify(typeOnly(value));

/** Every way `next` breaks consumers or emitters written against `published`. */
export function breakingChanges(published: CatalogContract, next: CatalogContract): ContractViolation[] {
  const violations: ContractViolation[] = [];
  for (const [event, old] of Object.entries(published)) {
    const current = next[event];
    if (!current) {
      violations.push({ event, problem: "event removed (keep emitting it, or deprecate it under a new name)" });
      continue;
    }
    if (current.version !== old.version) {
      violations.push({
        event,
        problem: `version changed ${old.version} → ${current.version}; a new version needs a new event name`,
      });
    }
    if (current.audience !== old.audience) {
      violations.push({ event, problem: `audience changed ${old.audience} → ${current.audience}` });
    }
    for (const part of ["payload", "derived"] as const) {
      for (const [field, schema] of Object.entries(old[part].properties)) {
        const now = current[part].properties[field];
        if (!now) {
          violations.push({ event, field, problem: `${part} field removed` });
        } else if (stable(now) !== stable(schema)) {
          violations.push({
            event,
            field,
            problem: `${part} field retyped: ${JSON.stringify(schema)} → ${JSON.stringify(now)}`,
          });
        }
        const wasRequired = old[part].required.includes(field);
        const isRequired = current[part].required.includes(field);
        if (now && wasRequired !== isRequired) {
          violations.push({ event, field, problem: `${part} field became ${isRequired ? "required" : "optional"}` });
        }
      }
    }
    // A new required payload field breaks every emitter written before it.
    for (const field of current.payload.required) {
      if (!(field in old.payload.properties)) {
        violations.push({ event, field, problem: "new payload field is required; new fields must be optional" });
      }
    }
  }
  return violations;
}

/** Names and fields `next` adds to `published` (safe, but the contract file should record them). */
export function additions(published: CatalogContract, next: CatalogContract): string[] {
  const added: string[] = [];
  for (const [event, entry] of Object.entries(next)) {
    const old = published[event];
    if (!old) {
      added.push(event);
      continue;
    }
    for (const part of ["payload", "derived"] as const) {
      for (const field of Object.keys(entry[part].properties)) {
        if (!(field in old[part].properties)) added.push(`${event}.${part}.${field}`);
      }
    }
  }
  return added;
}
