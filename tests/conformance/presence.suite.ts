/** What every Presence implementation must do (the contract in src/server/events/presence.ts). */
import { describe, expect, it } from "vitest";

import type { Presence, PresenceChange, PresenceListener } from "~/server/events/presence";

export type PresenceFactory = (onChange: PresenceListener) => Promise<Presence>;

export function presenceConformance(name: string, create: PresenceFactory) {
  describe(`Presence conformance: ${name}`, () => {
    const setup = async () => {
      const changes: PresenceChange[] = [];
      const presence = await create((c) => changes.push(c));
      return { presence, changes };
    };
    const alice = { userId: "alice", userName: "Alice" };
    const carol = { userId: "carol", userName: "Carol" };

    it("lists members online per organisation, oldest first, counting their connections", async () => {
      const { presence } = await setup();
      await presence.join("a1", alice, ["acme"]);
      await new Promise((r) => setTimeout(r, 5));
      await presence.join("c1", carol, ["acme", "globex"]);
      await presence.join("a2", alice, ["acme"]);
      expect(await presence.online("acme")).toMatchObject([
        { userId: "alice", name: "Alice", connections: 2 },
        { userId: "carol", name: "Carol", connections: 1 },
      ]);
      expect((await presence.online("globex")).map((m) => m.userId)).toEqual(["carol"]);
      expect(await presence.online("initech")).toEqual([]);
    });

    it("announces each transition exactly once", async () => {
      const { presence, changes } = await setup();
      await presence.join("a1", alice, ["acme"]);
      await presence.join("a2", alice, ["acme"]); // already online: no change
      await presence.leave("a1"); // still online through a2
      expect(changes).toEqual([{ organizationId: "acme", userId: "alice", userName: "Alice", online: true }]);
      await presence.leave("a2");
      expect(changes.at(-1)).toEqual({ organizationId: "acme", userId: "alice", userName: "Alice", online: false });
      expect(changes).toHaveLength(2);
      expect(await presence.online("acme")).toEqual([]);
    });

    it("an update announces the organisations entered and left", async () => {
      const { presence, changes } = await setup();
      await presence.join("a1", alice, ["acme", "globex"]);
      changes.length = 0;
      await presence.update("a1", ["acme", "initech"]);
      expect(changes).toEqual(
        expect.arrayContaining([
          { organizationId: "globex", userId: "alice", userName: "Alice", online: false },
          { organizationId: "initech", userId: "alice", userName: "Alice", online: true },
        ]),
      );
      expect(changes).toHaveLength(2);
      expect((await presence.online("globex")).length).toBe(0);
    });

    it("is idempotent per connection and ignores unknown ones", async () => {
      const { presence, changes } = await setup();
      await presence.join("a1", alice, ["acme"]);
      await presence.join("a1", alice, ["acme"]);
      expect(await presence.online("acme")).toMatchObject([{ userId: "alice", connections: 1 }]);
      await presence.leave("a1");
      await presence.leave("a1");
      await presence.leave("never-joined");
      await presence.update("never-joined", ["acme"]);
      expect(changes.map((c) => c.online)).toEqual([true, false]);
    });
  });
}
