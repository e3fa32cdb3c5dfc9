import { describe, expect, expectTypeOf, it } from "vitest";

import { deliveredDataSchema, emittableEventNames, eventCatalog, eventNameSchema } from "~/server/domain/catalog";
import { formatMoney } from "~/server/domain/money";
import type { EventData, EventPayload } from "~/server/events/catalog";
import type { LiveEvent } from "~/server/events/envelope";

// The catalog the product promises: name → payload fields.
const seedCatalog: Record<string, string[]> = {
  "order.created": ["orderId", "title", "total", "currency"],
  "order.status.changed": ["orderId", "from", "to"],
  "deliverable.uploaded": ["orderId", "deliverableId", "milestoneId"],
  "deliverable.accepted": ["orderId", "deliverableId"],
  "deliverable.rejected": ["orderId", "deliverableId", "reason"],
  "payment.succeeded": ["orderId", "amount", "currency", "providerRef"],
  "payment.failed": ["orderId", "errorCode"],
  "escrow.released": ["orderId", "milestoneId", "amount"],
  "dispute.opened": ["orderId", "disputeId", "reason"],
  "dispute.resolved": ["orderId", "disputeId", "resolution"],
  "contract.fully_signed": ["contractId", "number"],
};

describe("event catalog", () => {
  it.each(Object.entries(seedCatalog))("%s carries the seed payload fields", (name, fields) => {
    const definition = eventCatalog[name as keyof typeof eventCatalog];
    expect(definition, `${name} is missing from the catalog`).toBeDefined();
    for (const field of fields) expect(Object.keys(definition.payload.shape)).toContain(field);
    expect(definition.version).toBeGreaterThanOrEqual(1);
    expect(["user", "organization", "broadcast"]).toContain(definition.audience);
  });

  it("has notification.created and the system events the layer needs", () => {
    expect(eventCatalog["notification.created"].audience).toBe("broadcast");
    expect(eventCatalog["system.gap"].audience).toBe("system");
    expect(eventCatalog["system.ready"].audience).toBe("system");
    expect(emittableEventNames).not.toContain("system.gap");
    expect(emittableEventNames).toContain("order.created");
  });

  it("adds displayAmount server-side for money events", () => {
    const def = eventCatalog["payment.succeeded"];
    const payload = def.payload.parse({ orderId: "o1", amount: 123456, currency: "USD", providerRef: "pi_1" });
    expect(def.derived?.compute(payload)).toEqual({ displayAmount: "$1,234.56" });
    expect(formatMoney(500, "EUR")).toBe("€5.00");
    expect(Object.keys(deliveredDataSchema("order.created").shape)).toContain("displayAmount");
    expect(Object.keys(deliveredDataSchema("payment.failed").shape)).not.toContain("displayAmount");
  });

  it("rejects unknown names with a message that lists the known ones", () => {
    const result = eventNameSchema.safeParse("order.deleted");
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/unknown event name "order.deleted".*order.created/);
  });

  it("types flow from the catalog", () => {
    expectTypeOf<EventPayload<"order.created">>().toEqualTypeOf<{
      orderId: string;
      title: string;
      total: number;
      currency: string;
      orderVersion?: number | undefined;
      organizationId?: string | undefined;
      createdAt?: string | undefined;
    }>();
    expectTypeOf<EventData<"order.created">["displayAmount"]>().toEqualTypeOf<string>();
    expectTypeOf<EventData<"order.status.changed">["to"]>().toEqualTypeOf<
      "CREATED" | "IN_PROGRESS" | "DELIVERED" | "COMPLETED" | "CANCELLED"
    >();
    const narrow = (event: LiveEvent) => (event.name === "payment.succeeded" ? event.data.providerRef : null);
    expectTypeOf(narrow).returns.toEqualTypeOf<string | null>();
  });
});
