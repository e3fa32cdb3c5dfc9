import { describe, expect, it } from "vitest";

import { CursorSealer, InvalidEventIdError, type StreamItem } from "~/server/events";
import { SealedSink } from "~/server/events/sealed-sink";
import { gapItem } from "~/server/events/system-events";

const sealer = new CursorSealer("a-secret-of-this-deployment");

describe("sealed cursors", () => {
  it("an event's sealed id is the same for every recipient and opens to the id", () => {
    const id = "1764750000000-12";
    expect(sealer.seal(id)).toBe(sealer.seal(id));
    expect(sealer.open(sealer.seal(id))).toBe(id);
    expect(sealer.open(sealer.seal("1764750000000-12.k3x9a"))).toBe("1764750000000-12.k3x9a");
  });

  it("says nothing of the id: neither its time, nor its sequence, nor how far apart two ids are", () => {
    const a = sealer.seal("1764750000000-12");
    const b = sealer.seal("1764750000000-13");
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a).not.toContain("1764750000000");
    // Neighbours share no prefix beyond chance.
    let common = 0;
    while (a[common] === b[common]) common++;
    expect(common).toBeLessThan(4);
  });

  it("a fresh sealing of the same head looks unrelated each time, and opens to it", () => {
    const head = "1764750000000-12";
    const readings = new Set(Array.from({ length: 20 }, () => sealer.sealFresh(head)));
    expect(readings.size).toBe(20);
    for (const reading of readings) expect(sealer.open(reading)).toBe(head);
    expect(readings.has(sealer.seal(head))).toBe(false);
  });

  it("refuses what it did not seal: another secret, a flipped bit, a plain id, garbage", () => {
    const genuine = sealer.seal("1764750000000-12");
    const other = new CursorSealer("another-deployment-secret").seal("1764750000000-12");
    const bytes = Buffer.from(genuine, "base64url");
    bytes[bytes.length - 1]! ^= 1;
    for (const bad of [other, bytes.toString("base64url"), "1764750000000-12", "x".repeat(500), "", "../../etc"]) {
      expect(() => sealer.open(bad), bad).toThrow(InvalidEventIdError);
    }
  });
});

describe("the sealing sink", () => {
  const event = (id: string, name: "payment.failed" | "presence.changed"): StreamItem => ({
    id,
    event: {
      id,
      name,
      version: 1,
      emittedAt: new Date(0).toISOString(),
      data:
        name === "payment.failed"
          ? { orderId: "o", errorCode: "x" }
          : { organizationId: "acme", userId: "bob", name: null, online: true },
    } as StreamItem["event"],
  });

  it("a gap names the client's last cursor as the client received it, presence in between or not", () => {
    const written: StreamItem[] = [];
    const sink = new SealedSink({ write: (item) => written.push(item) > 0, end: () => {} }, sealer, null, null);
    sink.write(event("1764750000000-3", "payment.failed"));
    // Presence is not in the stream: it takes a cursor of its own and does not move the subscriber's.
    sink.write(event("1764750000000-3", "presence.changed"));
    sink.write(
      gapItem("1764750000000-9", { lastEventId: "1764750000000-3", oldestAvailableId: null, reason: "unknown_cursor" }),
    );
    const [delivered, presence, gap] = written;
    expect(presence!.id).not.toBe(delivered!.id);
    expect(gap!.event).toMatchObject({ name: "system.gap", data: { lastEventId: delivered!.id } });
    expect(sealer.open(gap!.id)).toBe("1764750000000-9");
  });
});
