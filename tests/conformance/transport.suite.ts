/** What every EventTransport implementation must do (the contract in src/server/events/transport.ts). */
import { afterEach, describe, expect, it } from "vitest";

import type { EventEnvelope } from "~/server/events";
import { UNREPLAYED_ID } from "~/server/events/envelope";
import type { EventTransport } from "~/server/events/transport";
import { waitUntil } from "../helpers/wait";

/** Two handles on one transport: with one process they may be the same object. */
export type TransportFactory = () => Promise<{ a: EventTransport; b: EventTransport; close(): Promise<void> }>;

const envelope = (seq: number): EventEnvelope => ({
  id: `1700000000000-${seq}`,
  name: "payment.failed",
  version: 1,
  data: { orderId: `o${seq}`, errorCode: "x" },
  emittedAt: new Date().toISOString(),
  target: { kind: "organization", organizationId: "acme" },
});

export function transportConformance(name: string, create: TransportFactory) {
  describe(`EventTransport conformance: ${name}`, () => {
    let opened: Awaited<ReturnType<TransportFactory>> | undefined;
    afterEach(async () => {
      await opened?.close();
      opened = undefined;
    });

    it("hands each published envelope to every handler, the publisher's own included, in id order", async () => {
      const pair = (opened = await create());
      const seenA: string[] = [];
      const seenB: string[] = [];
      pair.a.onEnvelope((e) => seenA.push(e.id));
      pair.b.onEnvelope((e) => seenB.push(e.id));
      const sent = Array.from({ length: 200 }, (_, i) => envelope(i + 1));
      for (const e of sent) await pair.a.publish(e);
      const expected = sent.map((e) => e.id);
      await waitUntil(() => seenA.length >= 200 && seenB.length >= 200, "200 envelopes on both handles", {
        timeoutMs: 5_000,
      });
      expect(seenA).toEqual(expected);
      expect(seenB).toEqual(expected);
    });

    it("stops calling a handler once it is removed", async () => {
      const pair = (opened = await create());
      const kept: string[] = [];
      const removed: string[] = [];
      pair.b.onEnvelope((e) => kept.push(e.id));
      const off = pair.b.onEnvelope((e) => removed.push(e.id));
      await pair.a.publish(envelope(1));
      await waitUntil(() => kept.length === 1 && removed.length === 1, "first envelope");
      off();
      await pair.a.publish(envelope(2));
      await waitUntil(() => kept.length === 2, "second envelope");
      expect(removed).toEqual([envelope(1).id]);
    });

    it("delivers the envelope intact", async () => {
      const pair = (opened = await create());
      const seen: EventEnvelope[] = [];
      pair.b.onEnvelope((e) => seen.push(e));
      const sent = envelope(7);
      await pair.a.publish(sent);
      await waitUntil(() => seen.length === 1, "the envelope");
      expect(seen[0]).toEqual(sent);
    });

    it("signals reach every handler intact, outside the stream: the next published envelope is still in id order", async () => {
      const pair = (opened = await create());
      const seen: EventEnvelope[] = [];
      pair.b.onEnvelope((e) => seen.push(e));
      const presence: EventEnvelope = {
        id: UNREPLAYED_ID,
        name: "presence.changed",
        version: 1,
        data: { organizationId: "acme", userId: "bob", name: "Bob", online: true },
        emittedAt: new Date().toISOString(),
        target: { kind: "organization", organizationId: "acme" },
      };
      const published = envelope(1);
      await pair.a.signal(presence);
      await pair.a.publish(published);
      await waitUntil(() => seen.length === 2, "the signal and the envelope");
      expect(seen).toContainEqual(presence);
      expect(seen.filter((e) => e.id !== UNREPLAYED_ID)).toEqual([published]);
    });
  });
}
