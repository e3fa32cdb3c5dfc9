import { describe, expect, it } from "vitest";

import { hashPassword, verifyPassword } from "~/server/auth/password";
import { signPayload, verifySignature } from "~/server/domain/payments";

describe("password hashing", () => {
  it("stores a salted scrypt hash, never the password, and verifies it", async () => {
    const hash = await hashPassword("demo");
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(hash).not.toContain("demo");
    expect(await hashPassword("demo")).not.toBe(hash); // salted
    expect(await verifyPassword("demo", hash)).toBe(true);
    expect(await verifyPassword("Demo", hash)).toBe(false);
    expect(await verifyPassword("demo", "garbage")).toBe(false);
  });
});

describe("webhook signatures", () => {
  const secret = "s3cret-s3cret-s3cret";
  const body = JSON.stringify({ id: "evt_1", type: "payment.failed", orderId: "o1", errorCode: "card_declined" });
  const now = 1_800_000_000_000;
  const t = now / 1000;

  it("accepts the HMAC-SHA256 of '<t>.<raw body>' within the tolerance", () => {
    expect(signPayload(secret, body, t)).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(secret, body, signPayload(secret, body, t), now)).toEqual({ ok: true });
    expect(verifySignature(secret, body, signPayload(secret, body, t - 299), now)).toEqual({ ok: true });
  });

  it("refuses a stale or future timestamp, so a captured delivery cannot be replayed later", () => {
    expect(verifySignature(secret, body, signPayload(secret, body, t - 301), now)).toEqual({
      ok: false,
      reason: "stale",
    });
    expect(verifySignature(secret, body, signPayload(secret, body, t + 301), now)).toEqual({
      ok: false,
      reason: "stale",
    });
  });

  it("accepts any v1 during a rotation, on either side", () => {
    const rotating = `t=${t},v1=${"0".repeat(64)},${signPayload(secret, body, t).split(",")[1]}`;
    expect(verifySignature(secret, body, rotating, now)).toEqual({ ok: true });
    expect(verifySignature(`new-secret-new-secret,${secret}`, body, signPayload(secret, body, t), now)).toEqual({
      ok: true,
    });
  });

  it("refuses a missing, malformed, wrong-secret or tampered signature", () => {
    expect(verifySignature(secret, body, null, now)).toEqual({ ok: false, reason: "missing" });
    expect(verifySignature(secret, body, "sha256=zz", now)).toEqual({ ok: false, reason: "malformed" });
    expect(verifySignature(secret, body, `v1=${"a".repeat(64)}`, now)).toEqual({ ok: false, reason: "malformed" });
    expect(verifySignature(secret, body, signPayload("other-secret-other", body, t), now)).toEqual({
      ok: false,
      reason: "mismatch",
    });
    expect(verifySignature(secret, `${body} `, signPayload(secret, body, t), now)).toEqual({
      ok: false,
      reason: "mismatch",
    });
    // The timestamp is signed too: moving it breaks the signature.
    const moved = signPayload(secret, body, t).replace(`t=${t}`, `t=${t + 1}`);
    expect(verifySignature(secret, body, moved, now)).toEqual({ ok: false, reason: "mismatch" });
  });
});
