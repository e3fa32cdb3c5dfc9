import { TRPCError } from "@trpc/server";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { endSignIn } from "~/server/auth/sign-in-sessions";
import { db } from "~/server/db";
import { getEventLayer } from "../helpers/runtime";
import { callerFor, demoSessions, freshEventLayer, orgIdOf, setupDatabase, subscribe } from "./harness";

beforeAll(setupDatabase);
beforeEach(() => {
  freshEventLayer({ reauthorizeIntervalMs: 100 });
});

const settle = () => new Promise((r) => setTimeout(r, 400)); // several re-authorisation rounds

describe("open subscriptions are re-authorised while they stay open", () => {
  let restore: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await restore?.();
    restore = undefined;
  });

  it("a member removed from an organisation stops receiving its events without reconnecting", async () => {
    const { alice, bob } = await demoSessions();
    const acme = await orgIdOf("acme");
    const bobSub = await subscribe(bob, { names: ["order.created", "notification.created"] });
    const aliceSub = await subscribe(alice, { names: ["presence.changed"] });
    await Promise.all([bobSub.ready(), aliceSub.ready()]);

    await callerFor(alice).order.create({ title: "Before removal", totalCents: 100 });
    await bobSub.waitForName("order.created");

    const membership = await db.membership.findFirstOrThrow({ where: { userId: bob.user.id, organizationId: acme } });
    await db.membership.delete({ where: { id: membership.id } });
    restore = () =>
      db.membership.create({ data: { userId: bob.user.id, organizationId: acme, role: membership.role } });
    await settle();

    await callerFor(alice).order.create({ title: "After removal", totalCents: 100 });
    await getEventLayer().bus.emit(
      "notification.created",
      { notificationId: "marker", message: "marker", scope: "user", from: { userId: "system", name: null } },
      { kind: "user", userId: bob.user.id },
    );
    await bobSub.waitForName("notification.created");
    expect(bobSub.events().map((r) => r.event.name)).toEqual(["order.created", "notification.created"]);
    expect(bobSub.failure()).toBeUndefined();
    // Acme sees Bob leave even though his connection stays open.
    await aliceSub.waitFor(
      (all) =>
        all.some(
          (r) => r.event.name === "presence.changed" && r.event.data.userId === bob.user.id && !r.event.data.online,
        ),
      "bob offline in Acme",
    );

    // Added back: delivery resumes on the same stream.
    await restore();
    restore = undefined;
    await settle();
    await callerFor(alice).order.create({ title: "Re-added", totalCents: 100 });
    await bobSub.waitForName("order.created", 2);
    await Promise.all([bobSub.close(), aliceSub.close()]);
  });

  it("a session that expires ends its stream with UNAUTHORIZED and frees the registry", async () => {
    const { carol } = await demoSessions();
    const end = new Date(Date.now() + 300).toISOString();
    // The cookie's own end (Auth.js recomputes `expires` on every read; streams use `tokenExpires`).
    const shortLived = { ...carol, expires: end, tokenExpires: end };
    const sub = await subscribe(shortLived);
    await sub.ready();
    await sub.ended();
    expect(sub.failure()).toBeInstanceOf(TRPCError);
    expect((sub.failure() as TRPCError).code).toBe("UNAUTHORIZED");
    expect(getEventLayer().registry.size).toBe(0);
    expect((await getEventLayer().bus.stats()).subscribers).toBe(0);
  });

  it("a sign-in ended where this process did not hear of it ends its stream within one interval", async () => {
    const { carol } = await demoSessions();
    const sub = await subscribe(carol);
    await sub.ready();
    // Revoked straight in the database: as by another instance whose notice never arrived here.
    await db.signInSession.update({ where: { id: carol.sessionId }, data: { revokedAt: new Date() } });
    await sub.ended();
    expect((sub.failure() as TRPCError).code).toBe("UNAUTHORIZED");
    expect(getEventLayer().registry.size).toBe(0);
  });

  it("a stream that is opening while its sign-in is ended never becomes live", async () => {
    const { bob } = await demoSessions();
    // The sign-in ends while the stream is between reading its session and registering.
    const layer = getEventLayer();
    const readAfter = layer.bus.head.bind(layer.bus);
    layer.bus.head = async () => {
      await endSignIn(bob.sessionId);
      return readAfter();
    };
    const sub = await subscribe(bob).catch((error: unknown) => error as Error);
    layer.bus.head = readAfter;
    // Refused as it opened, or ended before anything was sent: never live.
    if (!(sub instanceof Error)) {
      await sub.ended();
      expect(sub.names()).not.toContain("system.ready");
      expect((sub.failure() as TRPCError).code).toBe("UNAUTHORIZED");
    }
    expect(getEventLayer().registry.size).toBe(0);
  });
});
