import { describe, expect, it } from "vitest";

import { EventBus } from "~/server/events/bus";
import { ConnectionRegistry } from "~/server/events/registry";
import { InMemoryReplayLog } from "~/server/events/replay-log";
import { streamEvents, type StreamIdentity } from "~/server/events/subscription";
import { InProcessTransport } from "~/server/events/transport";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function setup() {
  const bus = new EventBus({
    log: new InMemoryReplayLog({ maxEvents: 100, maxAgeMs: 60_000 }),
    transport: new InProcessTransport(),
    maxPayloadBytes: 16_384,
  });
  const registry = new ConnectionRegistry({ maxConnections: 10, maxConnectionsPerUser: 10 });
  return { bus, registry };
}

const bob: StreamIdentity = {
  userId: "bob",
  userName: "Bob",
  sessionId: "s1.tab",
  signInSessionId: "s1",
  organizationIds: ["acme"],
  metadata: { role: "MEMBER" },
};

describe("streamEvents lifecycle", () => {
  it("a re-authorisation that completes after the stream closed does not subscribe again", async () => {
    const { bus, registry } = setup();
    let release!: (identity: StreamIdentity) => void;
    let calls = 0;
    const controller = new AbortController();
    const stream = streamEvents({
      bus,
      registry,
      logger: quiet,
      identity: bob,
      names: null,
      lastEventId: null,
      signal: controller.signal,
      maxQueuedEvents: 10,
      reauthorize: {
        intervalMs: 5,
        resolve: () => {
          calls++;
          return new Promise<StreamIdentity>((resolve) => (release = resolve));
        },
      },
    });
    await stream.next(); // system.ready
    while (calls === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await stream.return(undefined);
    expect((await bus.stats()).subscribers).toBe(0);

    release({ ...bob, organizationIds: ["acme", "globex"] }); // changed entitlements, too late
    await new Promise((r) => setTimeout(r, 20));
    expect((await bus.stats()).subscribers).toBe(0);
    expect(registry.size).toBe(0);
  });

  it("a subscriber that falls behind catches up from the log instead of growing its queue", async () => {
    const { bus, registry } = setup();
    const controller = new AbortController();
    const warnings: string[] = [];
    const stream = streamEvents({
      bus,
      registry,
      logger: { ...quiet, warn: (fields) => warnings.push(String(fields.event)) },
      identity: bob,
      names: ["payment.failed"],
      lastEventId: null,
      signal: controller.signal,
      maxQueuedEvents: 3,
    });
    await stream.next(); // system.ready; the generator now waits for its queue
    const emitted: string[] = [];
    for (let i = 0; i < 10; i++) {
      emitted.push((await bus.emit("payment.failed", { orderId: `o${i}`, errorCode: "x" }, { kind: "organization", organizationId: "acme" })).id);
    }
    const received: string[] = [];
    while (received.length < 10) {
      const { value } = await stream.next();
      const [id] = value as unknown as [string];
      received.push(id);
    }
    expect(received).toEqual(emitted);
    expect(warnings).toContain("connection.catch_up");
    controller.abort();
    await stream.return(undefined);
  });
});
