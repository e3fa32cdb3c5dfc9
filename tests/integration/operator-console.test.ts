/**
 * The operator console's procedures through the real router: the
 * connections table filtered, sorted and paged on the server with 10,000
 * streams open, each admin held to their organisations; the first paint's
 * figures for the caller's scope; a stream ended from the console.
 */
import type { TRPCError } from "@trpc/server";
import { beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";

import { runtime } from "~/server/runtime";
import { getEventLayer } from "../helpers/runtime";
import { identity } from "../helpers/event-layer";
import { callerFor, demoSessions, freshEventLayer, orgIdOf, setupDatabase } from "./harness";

beforeAll(setupDatabase);
beforeEach(() => {
  freshEventLayer({ maxConnections: 20_000, maxConnectionsPerUser: 20_000, maxConnectionsPerOrganization: 20_000 });
});

describe("operator console procedures", () => {
  it("pages, filters and sorts 10,000 streams on the server, within each admin's organisations", async () => {
    const { alice, carol, olivia } = await demoSessions();
    const [acme, globex] = [await orgIdOf("acme"), await orgIdOf("globex")];
    const registry = getEventLayer().registry;
    for (let i = 0; i < 10_000; i++) {
      const user = `member-${String(i).padStart(5, "0")}`;
      registry.open(identity(user, [i % 4 === 0 ? globex : acme], { userName: user }));
    }

    const all = await callerFor(olivia).admin.connections({ sort: "user", order: "asc", page: 399, pageSize: 25 });
    expect(all.total).toBe(10_000);
    expect(all.rows).toHaveLength(25);
    expect(all.rows[0]!.user.name).toBe("member-09975");
    expect(all.rows.at(-1)!.user.name).toBe("member-09999");

    const acmeOnly = await callerFor(alice).admin.connections({ pageSize: 100 });
    expect(acmeOnly.total).toBe(7_500);
    expect(acmeOnly.rows.every((row) => row.organizations.join() === "Acme")).toBe(true);

    const filtered = await callerFor(carol).admin.connections({ filter: "member-0000", order: "asc", sort: "user" });
    // member-00000 … member-00009, of which Globex holds every fourth: 0, 4, 8.
    expect(filtered.rows.map((row) => row.user.name)).toEqual(["member-00000", "member-00004", "member-00008"]);
    const byOrganisationName = await callerFor(olivia).admin.connections({ filter: "globex", pageSize: 1 });
    expect(byOrganisationName.total).toBe(2_500);
    // Deeper than 10,000 rows in one order is refused: each instance would ship them all to merge a page.
    const tooDeep = await callerFor(olivia)
      .admin.connections({ page: 100, pageSize: 100 })
      .then(
        () => null,
        (error: TRPCError) => error,
      );
    expect(tooDeep?.code).toBe("BAD_REQUEST");
    expect(tooDeep?.message).toContain("first 10000 streams");
  });

  it("the first paint holds the caller's scope: the platform for the operator, their organisations otherwise", async () => {
    const { alice, carol, olivia, bob } = await demoSessions();
    const platform = await callerFor(olivia).admin.console();
    expect(platform.scope).toBe("platform");
    expect(Object.keys(platform.history)).toEqual(["platform"]);
    expect(platform.historyMissingInstances).toBe(0);
    expect((await callerFor(olivia).admin.activity()).retention.map((r) => r.name)).toEqual(
      expect.arrayContaining(["Acme", "Globex"]),
    );

    const acme = await callerFor(alice).admin.console();
    expect(acme.scope).toBe("organization");
    expect(acme.organizations.map((o) => o.name)).toEqual(["Acme"]);
    expect((await callerFor(alice).admin.activity()).retention.map((r) => r.name)).toEqual(["Acme"]);
    expect(Object.keys(acme.history)).toEqual([await orgIdOf("acme")]);
    expect((await callerFor(carol).admin.console()).organizations.map((o) => o.name)).toEqual(["Globex"]);
    await expect(callerFor(bob).admin.console()).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(callerFor(bob).admin.activity()).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("recent events: each admin sees their organisation's, by name, with payloads only where they would receive them", async () => {
    const { alice, carol, olivia } = await demoSessions();
    const [acme, globex] = [await orgIdOf("acme"), await orgIdOf("globex")];
    const { bus } = getEventLayer();
    // The timeline remembers what this layer publishes (the runtime starts it in a server).
    const timeline = runtime().console;
    timeline.start();
    onTestFinished(() => timeline.stop());
    const note = (message: string) => ({
      notificationId: `n-${message}`,
      message,
      scope: "organization" as const,
      from: { userId: "u", name: "someone" },
    });
    await bus.emit("notification.created", note("acme-only"), { kind: "organization", organizationId: acme });
    await bus.emit("notification.created", note("globex-only"), { kind: "organization", organizationId: globex });
    await bus.emit("notification.created", note("acme-admins"), {
      kind: "metadata",
      organizationId: acme,
      match: { [`admin:${acme}`]: "true" },
    });

    const seen = async (caller: typeof alice) =>
      (await callerFor(caller).admin.activity()).recent.map((e) => [
        e.audience,
        (e.data as { message?: string } | null)?.message ?? "hidden",
      ]);
    expect(await seen(alice)).toEqual([
      ["organisation Acme", "hidden"],
      ["organisation Acme", "acme-only"],
    ]);
    expect(await seen(carol)).toEqual([["organisation Globex", "globex-only"]]);
    // The operator sees every audience, and no organisation's payload (operators are no member of them).
    expect(await seen(olivia)).toEqual([
      ["organisation Acme", "hidden"],
      ["organisation Globex", "hidden"],
      ["organisation Acme", "hidden"],
    ]);
  });

  it("ends a stream in the caller's scope only, and says nothing of one outside it", async () => {
    const { alice, carol } = await demoSessions();
    const registry = getEventLayer().registry;
    const ended: boolean[] = [];
    const record = registry.open(identity("bob", [await orgIdOf("acme")]), (_reason, revoked) => ended.push(revoked));
    await expect(callerFor(carol).admin.endStream({ connectionId: record.connectionId })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    expect(ended).toEqual([]);
    expect(await callerFor(alice).admin.endStream({ connectionId: record.connectionId })).toEqual({ ended: true });
    expect(ended).toEqual([false]);
  });
});
