import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";

import { eventCatalog } from "~/server/domain/catalog";
import type { EventDefinition } from "~/server/events/catalog";
import { additions, breakingChanges, contractOf, type CatalogContract } from "~/server/events/catalog-contract";

const published = JSON.parse(
  readFileSync(new URL("../../src/server/events/catalog-contract.json", import.meta.url), "utf8"),
) as CatalogContract;

describe("catalog change policy", () => {
  it("the catalog does not break the published contract", () => {
    const violations = breakingChanges(published, contractOf(eventCatalog));
    expect(violations, "breaking catalog change: add a new event name or version instead (see catalog.ts)").toEqual([]);
  });

  it("the published contract records every event and field (run npm run catalog:snapshot)", () => {
    expect(additions(published, contractOf(eventCatalog))).toEqual([]);
  });

  // The checker itself: a modified copy of the catalog must be caught.
  const withOrderCreated = (payload: z.ZodObject): Record<string, EventDefinition> => ({
    ...(eventCatalog as unknown as Record<string, EventDefinition>),
    "order.created": { ...eventCatalog["order.created"], payload } as EventDefinition,
  });
  const base = eventCatalog["order.created"].payload;

  it("flags a removed field", () => {
    const violations = breakingChanges(published, contractOf(withOrderCreated(base.omit({ title: true }))));
    expect(violations).toContainEqual({ event: "order.created", field: "title", problem: "payload field removed" });
  });

  it("flags a retyped field", () => {
    const violations = breakingChanges(published, contractOf(withOrderCreated(base.extend({ total: z.string() }))));
    expect(violations.map((v) => `${v.field}: ${v.problem}`).join("\n")).toMatch(/total: payload field retyped/);
  });

  it("flags an optional field that became required, a removed event and a bumped version", () => {
    const catalog = contractOf(eventCatalog);
    const mutated: CatalogContract = JSON.parse(JSON.stringify(catalog)) as CatalogContract;
    delete mutated["dispute.opened"];
    mutated["order.status.changed"]!.version = 2;
    mutated["escrow.released"]!.payload.required.push("currency");
    const problems = breakingChanges(catalog, mutated).map((v) => `${v.event}: ${v.problem}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^dispute.opened: event removed/),
        expect.stringMatching(/^order.status.changed: version changed 1 → 2/),
        expect.stringMatching(/^escrow.released: payload field became required/),
      ]),
    );
  });

  it("accepts additive changes: a new optional field and a new event", () => {
    const catalog = {
      ...withOrderCreated(base.extend({ note: z.string().optional() })),
      "order.archived": {
        audience: "organization",
        version: 1,
        description: "",
        payload: z.object({ orderId: z.string() }),
      },
    } as Record<string, EventDefinition>;
    expect(breakingChanges(published, contractOf(catalog))).toEqual([]);
    expect(additions(published, contractOf(catalog))).toEqual(
      expect.arrayContaining(["order.created.payload.note", "order.archived"]),
    );
  });

  it("rejects a new required field (old emitters would break)", () => {
    const violations = breakingChanges(published, contractOf(withOrderCreated(base.extend({ note: z.string() }))));
    expect(violations).toContainEqual(expect.objectContaining({ event: "order.created", field: "note" }));
  });

  it("allows tuning a constraint without a new version", () => {
    const violations = breakingChanges(
      published,
      contractOf(withOrderCreated(base.extend({ title: z.string().trim().min(1).max(500) }))),
    );
    expect(violations).toEqual([]);
  });
});
