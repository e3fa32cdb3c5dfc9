import { describe, expect, it } from "vitest";

import { ConnectionLimitError } from "~/server/events";
import { ConnectionRegistry } from "~/server/events/registry";
import { identity } from "../helpers/event-layer";

describe("connection registry", () => {
  it("tracks connections and frees everything on close", () => {
    let now = 0;
    const registry = new ConnectionRegistry(
      { maxConnections: 10, maxConnectionsPerUser: 5, maxConnectionsPerOrganization: 10 },
      () => now,
    );
    const a1 = registry.open(identity("alice"));
    const a2 = registry.open(identity("alice"));
    const c1 = registry.open(identity("carol", ["globex"]));
    expect(registry.stats()).toMatchObject({
      totalConnections: 3,
      clientsByUser: { alice: 2, carol: 1 },
      clientsByOrganization: { acme: 2, globex: 1 },
    });
    now = 1_000;
    registry.recordSent(a1);
    registry.recordSent(a1);
    expect(registry.get(a1.connectionId)).toMatchObject({ eventsSent: 2, lastEventAt: 1_000 });
    registry.close(a1.connectionId);
    registry.close(a1.connectionId); // idempotent
    registry.close(a2.connectionId);
    now = 3_000;
    registry.close(c1.connectionId);
    const stats = registry.stats();
    expect(stats).toMatchObject({
      totalConnections: 0,
      clientsByUser: {},
      clientsByOrganization: {},
      eventsSent: 2,
      lastEventAt: new Date(1_000).toISOString(),
      connectionsOpened: 3,
      connectionsClosed: 3,
    });
    expect(stats.averageConnectionDurationMs).toBe(Math.round((1_000 + 1_000 + 3_000) / 3));
    expect(registry.list()).toEqual([]);
  });

  it("enforces the global and per-user limits with TOO_MANY_REQUESTS", () => {
    const registry = new ConnectionRegistry({
      maxConnections: 3,
      maxConnectionsPerUser: 2,
      maxConnectionsPerOrganization: 10,
    });
    registry.open(identity("alice"));
    const second = registry.open(identity("alice"));
    const error = (() => {
      try {
        registry.open(identity("alice"));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConnectionLimitError);
    expect((error as ConnectionLimitError).code).toBe("TOO_MANY_REQUESTS");
    expect((error as Error).message).toMatch(/per-user limit/);
    registry.open(identity("bob"));
    expect(() => registry.open(identity("carol"))).toThrow(/limit of 3 open subscriptions/);
    registry.close(second.connectionId);
    expect(() => registry.open(identity("carol"))).not.toThrow();
    expect(registry.stats().connectionsRejected).toBe(2);
  });

  it("caps the open streams of one organisation, counting members of several in each, and follows membership changes", () => {
    const registry = new ConnectionRegistry({
      maxConnections: 100,
      maxConnectionsPerUser: 100,
      maxConnectionsPerOrganization: 3,
    });
    registry.open(identity("alice"));
    registry.open(identity("bob"));
    const both = registry.open(identity("dave", ["acme", "globex"]));
    expect(() => registry.open(identity("erin"))).toThrow(ConnectionLimitError);
    expect(() => registry.open(identity("erin"))).toThrow(/per-organisation limit/);
    // Another tenant is not affected, until a member of both counts against it.
    registry.open(identity("carol", ["globex"]));
    registry.open(identity("frank", ["globex"]));
    expect(() => registry.open(identity("grace", ["globex"]))).toThrow(/per-organisation limit/);
    // Dave leaves acme: acme has room again, globex still counts him.
    registry.updateOrganizations(both, ["globex"]);
    expect(registry.stats().clientsByOrganization).toEqual({ acme: 2, globex: 3 });
    expect(() => registry.open(identity("erin"))).not.toThrow();
    registry.close(both.connectionId);
    expect(registry.stats().clientsByOrganization).toEqual({ acme: 3, globex: 2 });
    expect(registry.stats().connectionsRejected).toBe(3);
  });

  it("a connection refused before it went live counts as rejected, not as opened and closed", () => {
    const registry = new ConnectionRegistry({
      maxConnections: 3,
      maxConnectionsPerUser: 2,
      maxConnectionsPerOrganization: 10,
    });
    const record = registry.open(identity("alice"));
    registry.close(record.connectionId, "rejected");
    expect(registry.stats()).toMatchObject({
      totalConnections: 0,
      connectionsOpened: 0,
      connectionsClosed: 0,
      connectionsRejected: 1,
    });
  });
});

describe("event-layer errors", () => {
  it("are recognised across copies of the module, while subclasses stay distinct", async () => {
    const {
      EventLayerError: Base,
      ConnectionLimitError: Limit,
      SubscriptionRevokedError: Revoked,
    } = await import("~/server/events/errors");
    // What another bundle's copy of the class produces: same brand, different class.
    const foreign = Object.assign(Object.create(Error.prototype) as Error, {
      [Symbol.for("t3-live-events.EventLayerError")]: true,
      code: "TOO_MANY_REQUESTS",
    });
    expect(foreign instanceof Base).toBe(true);
    expect(new Limit("x") instanceof Base).toBe(true);
    expect(new Limit("x") instanceof Revoked).toBe(false);
    expect(new Error("x") instanceof Base).toBe(false);
  });
});
