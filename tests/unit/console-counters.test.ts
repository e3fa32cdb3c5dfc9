/**
 * The counters the operator console and Prometheus read, counted where
 * things happen: the lag histogram and its quantiles, emits and lag per
 * organisation in the bus, writes, resumes and gaps per organisation in the
 * registry, and opt-in events (delivered only to subscriptions that name them).
 */
import { describe, expect, it } from "vitest";

import { catalog } from "~/server/domain/catalog";
import { DeliveryLag, EventBus, lagQuantile, TenantCountersByOrganization, type EventEnvelope } from "~/server/events";
import { ConnectionRegistry } from "~/server/events/registry";
import { MemoryReplayLog } from "~/server/events/replay-log-memory";
import type { Subscriber } from "~/server/events/subscriber-index";
import { MemoryTransport } from "~/server/events/transport-memory";
import { identity } from "../helpers/event-layer";

describe("DeliveryLag", () => {
  it("counts deliveries per bucket and takes quantiles of what happened between two readings", () => {
    const lag = new DeliveryLag();
    lag.record(0.4, 10); // 10 deliveries within 1 ms
    const before = lag.snapshot();
    lag.record(4, 98); // 98 at ≤ 5 ms
    lag.record(240, 2); // 2 at ≤ 300 ms
    const after = lag.snapshot();
    expect(lagQuantile(before, after, 0.5)).toBe(5);
    expect(lagQuantile(before, after, 0.99)).toBe(300);
    expect(lagQuantile(after, after, 0.5)).toBeNull();
    // Past the last bound: the largest finite bound, never Infinity.
    lag.record(120_000);
    expect(lagQuantile(after, lag.snapshot(), 0.99)).toBe(60_000);
    expect(lag.sumMs).toBeCloseTo(0.4 * 10 + 4 * 98 + 240 * 2 + 120_000);
  });
});

function makeBus() {
  const tenants = new TenantCountersByOrganization();
  const bus = new EventBus({
    catalog: catalog.definitions,
    log: new MemoryReplayLog({ maxEvents: 100, maxAgeMs: 60_000 }),
    transport: new MemoryTransport(),
    maxPayloadBytes: 16 * 1024,
    tenants,
  });
  return { bus, tenants };
}

let seq = 0;
function subscribe(bus: EventBus, orgs: string[], names: string[] | null, metadata: Record<string, string> = {}) {
  const received: EventEnvelope[] = [];
  const subscriber: Subscriber = {
    id: `s${++seq}`,
    userId: `u${seq}`,
    sessionId: `sess${seq}`,
    signInSessionId: `sess${seq}`,
    organizationIds: orgs,
    metadata,
    names: names ? new Set(names as never[]) : null,
    deliver: (envelope) => received.push(envelope),
  };
  bus.subscribe(subscriber);
  return received;
}

const note = (message: string) => ({
  notificationId: `n-${message}`,
  message,
  scope: "organization" as const,
  from: { userId: "u", name: null },
});

describe("counted in the bus", () => {
  it("counts emits per organisation addressed, lag per delivery, and state events apart from history", async () => {
    const { bus, tenants } = makeBus();
    subscribe(bus, ["acme"], null);
    subscribe(bus, ["acme"], null);
    await bus.emit("notification.created", note("a"), { kind: "organization", organizationId: "acme" });
    await bus.emit("notification.created", note("b"), { kind: "broadcast" });
    await bus.emit(
      "presence.changed",
      { organizationId: "acme", userId: "u1", name: null, online: true },
      { kind: "organization", organizationId: "acme" },
    );
    expect(bus.totals()).toMatchObject({ emitted: 2, signalled: 1 });
    expect(tenants.get("acme")?.emitted).toBe(1);
    expect(tenants.get("globex")).toBeUndefined();
    // Two recipients of each event: 6 deliveries measured, 4 of them of events addressed to acme.
    expect(bus.lag.counts.reduce((a, b) => a + b, 0)).toBe(6);
    expect(tenants.get("acme")!.lag.counts.reduce((a, b) => a + b, 0)).toBe(4);
  });

  it("an opt-in event reaches only subscriptions that name it, live and never from history", async () => {
    const { bus } = makeBus();
    const everything = subscribe(bus, ["acme"], null, { role: "OPERATOR" });
    const named = subscribe(bus, ["acme"], ["console.sample"], { role: "OPERATOR" });
    const sample = {
      instanceId: "i1",
      scope: "platform" as const,
      at: Date.now(),
      emitted: 0,
      written: 0,
      streams: 2,
      lagP50: null,
      lagP99: null,
      resumes: 0,
      replayed: 0,
      gapsRetention: 0,
      gapsUnknown: 0,
      slowConsumer: 0,
      stalled: 0,
      rateLimited: 0,
    };
    await bus.emit("console.sample", sample, { kind: "metadata", match: { role: "OPERATOR" } });
    expect(named.map((e) => e.name)).toEqual(["console.sample"]);
    expect(everything).toEqual([]);
    expect(await bus.retained("metadata")).toBe(0);
  });
});

describe("counted in the registry", () => {
  it("a connection counts its writes, resumes and gaps for each of its organisations, and follows their changes", () => {
    const registry = new ConnectionRegistry({
      maxConnections: 10,
      maxConnectionsPerUser: 10,
      maxConnectionsPerOrganization: 10,
    });
    const both = registry.open(identity("alice", ["acme", "globex"]));
    registry.recordSent(both, 3);
    registry.recordResume(both, { replayed: 2 });
    registry.recordResume(both, { gap: "retention_exceeded" });
    const acme = registry.tenants.get("acme")!;
    const globex = registry.tenants.get("globex")!;
    expect([acme.written, acme.resumes, acme.replayed, acme.gaps.retention_exceeded]).toEqual([3, 1, 2, 1]);
    expect(globex.written).toBe(3);
    expect(registry.counters()).toMatchObject({ open: 1, eventsSent: 3, resumes: 1, eventsReplayed: 2 });

    registry.updateOrganizations(both, ["globex"]);
    registry.recordSent(both);
    expect([acme.written, globex.written]).toEqual([3, 4]);
  });

  it("counts streams opened per organisation, so a stream replaced within a second still shows as a change", () => {
    const registry = new ConnectionRegistry({
      maxConnections: 10,
      maxConnectionsPerUser: 10,
      maxConnectionsPerOrganization: 10,
    });
    const first = registry.open(identity("bob", ["acme"]));
    registry.close(first.connectionId);
    registry.open(identity("bob", ["acme"]));
    const refused = registry.open(identity("bob", ["acme"]));
    registry.close(refused.connectionId, "rejected");
    // Open streams: 1, as before the replacement; opened: 2 (the refused one is not counted).
    expect(registry.connectionsIn("acme")).toBe(1);
    expect(registry.tenants.get("acme")!.opened).toBe(2);
    expect(registry.counters()).toMatchObject({ open: 1, opened: 2, rejected: 1 });
  });

  it("ends one connection without revoking it; revoking says so", () => {
    const registry = new ConnectionRegistry({
      maxConnections: 10,
      maxConnectionsPerUser: 10,
      maxConnectionsPerOrganization: 10,
    });
    const ended: [string, boolean][] = [];
    const record = registry.open(identity("alice"), (reason, revoked) => ended.push([reason, revoked]));
    expect(registry.end(record.connectionId, "ended by an administrator")).toBe(record);
    expect(registry.end("no-such-connection", "x")).toBeUndefined();
    registry.revoke({ userId: "alice" }, "signed out");
    expect(ended).toEqual([
      ["ended by an administrator", false],
      ["signed out", true],
    ]);
  });
});
