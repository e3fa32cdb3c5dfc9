import { afterEach, describe, expect, it, vi } from "vitest";

import {
  compareEventIds,
  EventBus,
  EventPayloadTooLargeError,
  EventTargetError,
  EventValidationError,
  type EventEnvelope,
} from "~/server/events";
import { catalog } from "~/server/domain/catalog";
import { MemoryReplayLog } from "~/server/events/replay-log-memory";
import type { Subscriber } from "~/server/events/subscriber-index";
import { MemoryTransport } from "~/server/events/transport-memory";

function makeBus(options: { maxPayloadBytes?: number } = {}) {
  const transport = new MemoryTransport();
  const bus = new EventBus({
    catalog: catalog.definitions,
    log: new MemoryReplayLog({ maxEvents: 100, maxAgeMs: 60_000 }),
    transport,
    maxPayloadBytes: options.maxPayloadBytes ?? 16 * 1024,
  });
  return { bus, transport };
}

let seq = 0;
function subscriber(
  bus: EventBus,
  who: {
    userId: string;
    sessionId?: string;
    signIn?: string;
    orgs?: string[];
    metadata?: Record<string, string>;
    names?: string[];
  },
) {
  const received: EventEnvelope[] = [];
  const sub: Subscriber = {
    id: `sub-${++seq}`,
    userId: who.userId,
    sessionId: who.sessionId ?? `${who.userId}-session`,
    signInSessionId: who.signIn ?? who.sessionId ?? `${who.userId}-session`,
    organizationIds: who.orgs ?? [],
    metadata: who.metadata ?? {},
    names: who.names ? new Set(who.names as never[]) : null,
    deliver: (e) => received.push(e),
  };
  const unsubscribe = bus.subscribe(sub);
  return { received, unsubscribe, names: () => received.map((e) => e.name) };
}

const orderCreated = { orderId: "o1", title: "Logo design", total: 25_000, currency: "USD" };

describe("event bus routing", () => {
  it("delivers an organisation event to that organisation's members only", async () => {
    const { bus } = makeBus();
    const alice = subscriber(bus, { userId: "alice", orgs: ["acme"] });
    const bob = subscriber(bus, { userId: "bob", orgs: ["acme"] });
    const carol = subscriber(bus, { userId: "carol", orgs: ["globex"] });
    const envelope = await bus.emit("order.created", orderCreated, { kind: "organization", organizationId: "acme" });
    expect(alice.received).toEqual([envelope]);
    expect(bob.received).toEqual([envelope]);
    expect(carol.received).toEqual([]);
    expect(envelope.data.displayAmount).toBe("$250.00");
  });

  it("targets a user (all their sessions) or exactly one session", async () => {
    const { bus } = makeBus();
    const tab1 = subscriber(bus, { userId: "alice", sessionId: "s1" });
    const tab2 = subscriber(bus, { userId: "alice", sessionId: "s2" });
    const bob = subscriber(bus, { userId: "bob", sessionId: "s3" });
    const note = (message: string) => ({
      notificationId: message,
      message,
      scope: "user" as const,
      from: { userId: "system", name: null },
    });
    await bus.emit("notification.created", note("to-alice"), { kind: "user", userId: "alice" });
    await bus.emit("notification.created", note("to-s2"), { kind: "session", sessionId: "s2" });
    expect(tab1.received.map((e) => e.data)).toMatchObject([{ message: "to-alice" }]);
    expect(tab2.received.map((e) => e.data)).toMatchObject([{ message: "to-alice" }, { message: "to-s2" }]);
    expect(bob.received).toEqual([]);
  });

  it("a session target names one tab (sign-in + tab id) or every tab of one sign-in", async () => {
    const { bus } = makeBus();
    const tab1 = subscriber(bus, { userId: "alice", signIn: "s1", sessionId: "s1.tabA" });
    const tab2 = subscriber(bus, { userId: "alice", signIn: "s1", sessionId: "s1.tabB" });
    const otherSignIn = subscriber(bus, { userId: "alice", signIn: "s2", sessionId: "s2.tabA" });
    const note = (message: string) => ({
      notificationId: message,
      message,
      scope: "user" as const,
      from: { userId: "x", name: null },
    });
    await bus.emit("notification.created", note("tab A only"), { kind: "session", sessionId: "s1.tabA" });
    await bus.emit("notification.created", note("sign-in s1"), { kind: "session", sessionId: "s1" });
    expect(tab1.received.map((e) => (e.data as { message: string }).message)).toEqual(["tab A only", "sign-in s1"]);
    expect(tab2.received.map((e) => (e.data as { message: string }).message)).toEqual(["sign-in s1"]);
    expect(otherSignIn.received).toEqual([]);
    tab1.unsubscribe();
    tab2.unsubscribe();
    otherSignIn.unsubscribe();
    expect(bus.indexKeyCount()).toBe(0);
  });

  it("matches metadata, optionally inside one organisation", async () => {
    const { bus } = makeBus();
    const admin = subscriber(bus, {
      userId: "alice",
      orgs: ["acme"],
      metadata: { role: "ADMIN", "org:acme": "OWNER" },
    });
    const member = subscriber(bus, {
      userId: "bob",
      orgs: ["acme"],
      metadata: { role: "MEMBER", "org:acme": "MEMBER" },
    });
    const otherAdmin = subscriber(bus, { userId: "zed", orgs: ["globex"], metadata: { role: "ADMIN" } });
    const note = {
      notificationId: "n",
      message: "admins",
      scope: "broadcast" as const,
      from: { userId: "sys", name: null },
    };
    await bus.emit("notification.created", note, { kind: "metadata", match: { role: "ADMIN" } });
    expect(admin.received).toHaveLength(1);
    expect(otherAdmin.received).toHaveLength(1);
    expect(member.received).toHaveLength(0);
    await bus.emit(
      "order.status.changed",
      { orderId: "o1", from: "CREATED", to: "IN_PROGRESS" },
      {
        kind: "metadata",
        match: { "org:acme": "OWNER" },
        organizationId: "acme",
      },
    );
    expect(admin.names()).toEqual(["notification.created", "order.status.changed"]);
    expect(otherAdmin.received).toHaveLength(1);
  });

  it("broadcasts to everyone and honours each subscriber's name filter", async () => {
    const { bus } = makeBus();
    const all = subscriber(bus, { userId: "a" });
    const onlyOrders = subscriber(bus, { userId: "b", orgs: ["acme"], names: ["order.created"] });
    await bus.emit(
      "notification.created",
      { notificationId: "n", message: "hi", scope: "broadcast", from: { userId: "a", name: "A" } },
      { kind: "broadcast" },
    );
    await bus.emit("order.created", orderCreated, { kind: "organization", organizationId: "acme" });
    expect(all.names()).toEqual(["notification.created"]);
    expect(onlyOrders.names()).toEqual(["order.created"]);
  });

  it("stamps strictly increasing ids", async () => {
    const { bus } = makeBus();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      ids.push(
        (
          await bus.emit(
            "payment.failed",
            { orderId: `o${i}`, errorCode: "card_declined" },
            { kind: "organization", organizationId: "acme" },
          )
        ).id,
      );
    }
    for (let i = 1; i < ids.length; i++) expect(compareEventIds(ids[i]!, ids[i - 1]!)).toBeGreaterThan(0);
  });
});

describe("bad input is refused before anything is delivered", () => {
  it("unknown names, invalid payloads and extra fields throw EventValidationError", async () => {
    const { bus } = makeBus();
    const alice = subscriber(bus, { userId: "alice", orgs: ["acme"] });
    const org = { kind: "organization", organizationId: "acme" } as const;
    await expect(bus.emit("order.deleted" as never, {} as never, org)).rejects.toBeInstanceOf(EventValidationError);
    await expect(bus.emit("order.created", { ...orderCreated, total: -1 }, org)).rejects.toThrow(
      /invalid order.created payload[\s\S]*total/,
    );
    await expect(bus.emit("order.created", { ...orderCreated, currency: "dollars" }, org)).rejects.toThrow(/ISO 4217/);
    await expect(bus.emit("order.created", { ...orderCreated, secret: "x" } as never, org)).rejects.toThrow(/secret/);
    expect(alice.received).toEqual([]);
    expect(await bus.stats()).toMatchObject({ emitted: 0, rejected: 4, logSize: 0 });
  });

  it("a target that does not fit the audience throws EventTargetError", async () => {
    const { bus } = makeBus();
    const everyone = subscriber(bus, { userId: "alice", orgs: ["acme"] });
    await expect(bus.emit("order.created", orderCreated, { kind: "broadcast" })).rejects.toBeInstanceOf(
      EventTargetError,
    );
    await expect(bus.emit("order.created", orderCreated, { kind: "user", userId: "alice" })).rejects.toThrow(
      /audience "organization"/,
    );
    await expect(
      bus.emit("order.created", orderCreated, { kind: "metadata", match: { role: "ADMIN" } }),
    ).rejects.toThrow(EventTargetError);
    await expect(bus.emit("order.created", orderCreated, { kind: "organization" } as never)).rejects.toThrow(
      /invalid target/,
    );
    await expect(
      bus.emit(
        "system.gap" as never,
        { lastEventId: "1-0", oldestAvailableId: null, reason: "unknown_cursor" } as never,
        { kind: "broadcast" },
      ),
    ).rejects.toThrow(/system event/);
    expect(everyone.received).toEqual([]);
  });

  it("an oversized payload throws EventPayloadTooLargeError", async () => {
    const { bus } = makeBus({ maxPayloadBytes: 512 });
    const alice = subscriber(bus, { userId: "alice", orgs: ["acme"] });
    const error = await bus
      .emit(
        "deliverable.rejected",
        { orderId: "o", deliverableId: "d", reason: "x".repeat(600) },
        { kind: "organization", organizationId: "acme" },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventPayloadTooLargeError);
    expect((error as EventPayloadTooLargeError).code).toBe("PAYLOAD_TOO_LARGE");
    expect(alice.received).toEqual([]);
  });

  it("a throwing subscriber does not stop delivery to the others", async () => {
    const { bus } = makeBus();
    const before = subscriber(bus, { userId: "a", orgs: ["acme"] });
    bus.subscribe({
      id: "bad",
      userId: "x",
      sessionId: "x",
      signInSessionId: "x",
      organizationIds: ["acme"],
      metadata: {},
      names: null,
      deliver: () => {
        throw new Error("boom");
      },
    });
    const after = subscriber(bus, { userId: "b", orgs: ["acme"] });
    await bus.emit("order.created", orderCreated, { kind: "organization", organizationId: "acme" });
    expect(before.received).toHaveLength(1);
    expect(after.received).toHaveLength(1);
  });
});

describe("scale and cleanup", () => {
  afterEach(() => vi.restoreAllMocks());

  it("10,000 subscribers: no MaxListeners warning, one transport listener, nothing left after they leave", async () => {
    const { bus, transport } = makeBus();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    const subs = Array.from({ length: 10_000 }, (_, i) =>
      subscriber(bus, {
        userId: `u${i % 2_500}`,
        orgs: [`org${i % 100}`],
        metadata: { role: i % 10 ? "MEMBER" : "ADMIN" },
      }),
    );
    expect(transport.handlerCount).toBe(1);
    expect((await bus.stats()).subscribers).toBe(10_000);
    await bus.emit("order.created", orderCreated, { kind: "organization", organizationId: "org7" });
    expect(subs.filter((s) => s.received.length === 1)).toHaveLength(100);
    await new Promise((r) => setImmediate(r));
    for (const s of subs) s.unsubscribe();
    for (const s of subs) s.unsubscribe(); // idempotent
    process.off("warning", onWarning);
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    expect((await bus.stats()).subscribers).toBe(0);
    expect(bus.indexKeyCount()).toBe(0);
    expect(transport.handlerCount).toBe(1);
  });
});
