import { describe, expect, it } from "vitest";

import { CursorSealer, InvalidEventIdError } from "~/server/events";

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
