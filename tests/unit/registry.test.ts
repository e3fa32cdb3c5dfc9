import { describe, expect, it } from "vitest";

import { ConnectionLimitError } from "~/server/events/errors";
import { ConnectionRegistry, type PresenceChange } from "~/server/events/registry";

const principal = (userId: string, organizationIds: string[] = ["acme"], sessionId = `${userId}-s`) => ({
  userId,
  userName: userId.toUpperCase(),
  sessionId,
  organizationIds,
});

describe("connection registry", () => {
  it("tracks connections and frees everything on close", () => {
    let now = 0;
    const registry = new ConnectionRegistry({ maxConnections: 10, maxConnectionsPerUser: 5 }, undefined, () => now);
    const a1 = registry.open(principal("alice"));
    const a2 = registry.open(principal("alice"));
    const c1 = registry.open(principal("carol", ["globex"]));
    expect(registry.stats()).toMatchObject({ totalConnections: 3, clientsByUser: { alice: 2, carol: 1 } });
    now = 1_000;
    registry.recordSent(a1.connectionId);
    registry.recordSent(a1.connectionId);
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
      eventsSent: 2,
      lastEventAt: new Date(1_000).toISOString(),
      connectionsOpened: 3,
      connectionsClosed: 3,
    });
    expect(stats.averageConnectionDurationMs).toBe(Math.round((1_000 + 1_000 + 3_000) / 3));
    expect(registry.list()).toEqual([]);
  });

  it("enforces the global and per-user limits with TOO_MANY_REQUESTS", () => {
    const registry = new ConnectionRegistry({ maxConnections: 3, maxConnectionsPerUser: 2 });
    registry.open(principal("alice"));
    const second = registry.open(principal("alice"));
    const error = (() => {
      try {
        registry.open(principal("alice"));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConnectionLimitError);
    expect((error as ConnectionLimitError).code).toBe("TOO_MANY_REQUESTS");
    expect((error as Error).message).toMatch(/per-user limit/);
    registry.open(principal("bob"));
    expect(() => registry.open(principal("carol"))).toThrow(/limit of 3 open subscriptions/);
    registry.close(second.connectionId);
    expect(() => registry.open(principal("carol"))).not.toThrow();
    expect(registry.stats().connectionsRejected).toBe(2);
  });

  it("reports presence per organisation and announces only real transitions", () => {
    const changes: PresenceChange[] = [];
    const registry = new ConnectionRegistry({ maxConnections: 10, maxConnectionsPerUser: 5 }, (c) => changes.push(c));
    const tab1 = registry.open(principal("alice", ["acme"]));
    const tab2 = registry.open(principal("alice", ["acme"]));
    registry.open(principal("carol", ["globex"]));
    expect(registry.presence("acme")).toMatchObject([{ userId: "alice", name: "ALICE", connections: 2 }]);
    expect(registry.presence("globex").map((m) => m.userId)).toEqual(["carol"]);
    registry.close(tab1.connectionId);
    expect(changes.filter((c) => c.userId === "alice")).toEqual([
      { organizationId: "acme", userId: "alice", userName: "ALICE", online: true },
    ]);
    registry.close(tab2.connectionId);
    expect(changes.filter((c) => c.userId === "alice").at(-1)).toMatchObject({ online: false });
    expect(registry.presence("acme")).toEqual([]);
  });
});
