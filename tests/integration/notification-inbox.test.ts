/**
 * The notifications inbox: a notification sent with `inbox` is stored with
 * its event (one transaction, the outbox) and read back by exactly the
 * readers its event reaches; a ping is not stored; a tab-only one cannot be.
 */
import { TRPCError } from "@trpc/server";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";

import { callerFor, freshEventLayer, sessionFor, setupDatabase, subscribe } from "./harness";

beforeAll(setupDatabase);
beforeEach(() => {
  freshEventLayer();
});

describe("notification inbox", () => {
  it("stores what is sent with `inbox`, announces it with the same id and time, and shows it to its readers only", async () => {
    const alice = await sessionFor("alice@acme.test");
    const bob = await sessionFor("bob@acme.test");
    const carol = await sessionFor("carol@globex.test");
    const sub = await subscribe(alice, { names: ["notification.created"] });
    await sub.ready();
    const stored = await callerFor(bob).notification.send({
      target: { kind: "organization" },
      message: "kept for acme",
      inbox: true,
    });
    const ping = await callerFor(bob).notification.send({ target: { kind: "organization" }, message: "passing" });
    await sub.waitForName("notification.created", 2);
    await sub.close();

    const [announced, passing] = sub.events().map((r) => r.event.data as Record<string, unknown>);
    expect(announced).toMatchObject({ notificationId: stored.notificationId, stored: true, message: "kept for acme" });
    expect(passing).toMatchObject({ notificationId: ping.notificationId, stored: false });
    expect(stored.id).toEqual(expect.any(String));

    const aliceInbox = await callerFor(alice).notification.inbox();
    const kept = aliceInbox.find((n) => n.id === stored.notificationId);
    expect(kept).toMatchObject({ message: "kept for acme", scope: "organization", from: { name: "Bob" } });
    expect(kept!.createdAt.toISOString()).toBe(announced!.createdAt);
    expect(aliceInbox.some((n) => n.id === ping.notificationId)).toBe(false);
    expect((await callerFor(carol).notification.inbox()).some((n) => n.id === stored.notificationId)).toBe(false);
  });

  it("a notification to one tab cannot be kept in an inbox", async () => {
    const alice = await sessionFor("alice@acme.test");
    const error = await callerFor(alice)
      .notification.send({ target: { kind: "session" }, message: "tab", inbox: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe("BAD_REQUEST");
  });
});
