/**
 * Tenants that learn nothing of each other, tried as an attacker would over
 * HTTP against the production build. Acme: alice (owner, its admin), bob
 * (member). Globex: carol (owner, its admin). olivia: the platform operator.
 */
import type { TRPCClientError } from "@trpc/client";
import { beforeAll, describe, expect, it } from "vitest";

import type { AppRouter } from "~/server/api/root";
import { live, signIn, trpcClient, until } from "./http-client";

type Client = ReturnType<typeof trpcClient>["client"];
let alice: Client, bob: Client, carol: Client, olivia: Client;

const code = (promise: Promise<unknown>) =>
  promise.then(
    () => "OK",
    (e: TRPCClientError<AppRouter>) => e.data?.code,
  );

/** Anything that looks like the layer's own ids (`<unix ms>-<sequence>`). */
const RAW_ID = /\d{13}-\d+/;

beforeAll(async () => {
  const client = async (email: string) => trpcClient(await signIn(email)).client;
  alice = await client("alice@acme.test");
  bob = await client("bob@acme.test");
  carol = await client("carol@globex.test");
  olivia = await client("olivia@platform.test");
});

describe("administration stays inside the tenant", () => {
  it("an organisation's admin sees only their organisation's streams and figures, by name; the operator sees all", async () => {
    const carolStream = live(carol);
    const bobStream = live(bob);
    await Promise.all([carolStream.ready(), bobStream.ready()]);
    try {
      const carolId = (await carol.notification.recipients.query()).find((p) => p.email === "carol@globex.test")!.id;
      const stats = await alice.events.stats.query();
      expect(stats.scope).toBe("organization");
      expect(stats.platform).toBeNull();
      expect(stats.organizations.map((o) => o.name)).toEqual(["Acme"]);
      expect(stats.organizations[0]!.members.map((m) => m.name)).toContain("Bob");
      const connections = await alice.events.connections.query();
      expect(connections.some((c) => c.userName === "Bob")).toBe(true);
      expect(connections.every((c) => c.organizations.every((o) => o.name === "Acme"))).toBe(true);
      const seenByAlice = JSON.stringify([stats, connections]);
      expect(seenByAlice).not.toContain("Globex");
      expect(seenByAlice).not.toContain("Carol");
      expect(seenByAlice).not.toContain(carolId);
      // Asking for Carol's streams by her id answers nothing either.
      expect(await alice.events.connections.query({ userId: carolId })).toEqual([]);

      // Carol, Globex's admin, sees Globex only.
      const carolsView = JSON.stringify([await carol.events.stats.query(), await carol.events.connections.query()]);
      expect(carolsView).not.toContain("Acme");
      expect(carolsView).not.toContain("Bob");

      // The operator sees both tenants and the platform's totals.
      const all = await olivia.events.stats.query();
      expect(all.scope).toBe("platform");
      expect(all.platform?.bus.emitted).toBeGreaterThanOrEqual(0);
      expect(all.organizations.map((o) => o.name)).toEqual(expect.arrayContaining(["Acme", "Globex"]));
      const everyone = await olivia.events.connections.query();
      expect(everyone.some((c) => c.userName === "Carol")).toBe(true);
      expect(everyone.some((c) => c.userName === "Bob")).toBe(true);

      // Members are not administrators.
      expect(await code(bob.events.stats.query())).toBe("FORBIDDEN");
      expect(await code(bob.events.connections.query())).toBe("FORBIDDEN");
    } finally {
      carolStream.unsubscribe();
      bobStream.unsubscribe();
    }
  });

  it("an organisation's admin cannot act on another tenant: roles, revocations, broadcasts to everyone", async () => {
    const carolId = (await carol.notification.recipients.query()).find((p) => p.email === "carol@globex.test")!.id;
    const globex = (await carol.notification.recipients.query())[0]!.organization.id;
    const acme = (await alice.notification.recipients.query())[0]!.organization.id;
    // The same answer whether or not the user or organisation exists: no probing.
    expect(await code(alice.admin.revokeUser.mutate({ userId: carolId }))).toBe("NOT_FOUND");
    expect(await code(alice.admin.revokeUser.mutate({ userId: "no-such-user" }))).toBe("NOT_FOUND");
    expect(await code(alice.admin.setRole.mutate({ userId: carolId, organizationId: globex, role: "MEMBER" }))).toBe(
      "NOT_FOUND",
    );
    expect(await code(alice.admin.setRole.mutate({ userId: carolId, organizationId: acme, role: "ADMIN" }))).toBe(
      "NOT_FOUND",
    );
    // Carol's session still works: nothing was done to it.
    expect(await code(carol.notification.recipients.query())).toBe("OK");

    // A broadcast to every organisation is the operator's; an admin reaches their own organisation.
    const carolStream = live(carol, { names: ["notification.created"] });
    await carolStream.ready();
    try {
      expect(await code(alice.notification.send.mutate({ target: { kind: "broadcast" }, message: "x" }))).toBe(
        "FORBIDDEN",
      );
      await alice.notification.send.mutate({ target: { kind: "organization" }, message: "acme only" });
      await olivia.notification.send.mutate({ target: { kind: "broadcast" }, message: "from the operator" });
      await carolStream.waitFor("notification.created");
      await new Promise((r) => setTimeout(r, 300));
      expect(carolStream.events().map((r) => r.event.name === "notification.created" && r.event.data.message)).toEqual([
        "from the operator",
      ]);
    } finally {
      carolStream.unsubscribe();
    }
  });
});

describe("nothing leaks across tenants through ids", () => {
  it("carol's cursors say nothing of Acme's events: not their count, not their timing", async () => {
    const first = live(carol);
    await first.ready();
    const before = first.received.find((r) => r.event.name === "system.ready")!.id;
    first.unsubscribe();

    // An Acme user's private event.
    const { id: acmeId } = await bob.notification.send.mutate({ target: { kind: "self" }, message: "private" });

    const second = live(carol);
    await second.ready();
    const after = second.received.find((r) => r.event.name === "system.ready")!.id;
    second.unsubscribe();
    // Before the fix, `after` was exactly Acme's event id, and `before` its predecessor.
    expect(after).not.toBe(acmeId);
    for (const id of [before, after, acmeId]) expect(id).not.toMatch(RAW_ID);
    // Two readings of a head never look alike, whether or not anything happened in between.
    const again = live(carol);
    await again.ready();
    const third = again.received.find((r) => r.event.name === "system.ready")!.id;
    again.unsubscribe();
    expect(new Set([before, after, third]).size).toBe(3);

    // Resuming from the older cursor replays nothing of Acme's, and reveals no id of it.
    const resumed = live(carol, { lastEventId: before });
    await resumed.ready();
    resumed.unsubscribe();
    expect(resumed.events()).toEqual([]);
    expect(JSON.stringify(resumed.received)).not.toContain(acmeId);
  });

  it("a subscriber's own events carry opaque ids that still resume exactly", async () => {
    const stream = live(carol, { names: ["notification.created"] });
    await stream.ready();
    const sent: string[] = [];
    for (const message of ["one", "two", "three"]) {
      sent.push((await carol.notification.send.mutate({ target: { kind: "self" }, message })).id!);
    }
    await stream.waitFor("notification.created", 3);
    stream.unsubscribe();
    const ids = stream.events().map((r) => r.id);
    expect(ids).toEqual(sent);
    for (const id of ids) expect(id).not.toMatch(RAW_ID);
    const resumed = live(carol, { names: ["notification.created"], lastEventId: ids[0] });
    await until(() => resumed.events().length >= 2, "the two later events");
    await new Promise((r) => setTimeout(r, 200));
    resumed.unsubscribe();
    expect(resumed.events().map((r) => r.id)).toEqual(ids.slice(1));
  });
});
