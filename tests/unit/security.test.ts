import { describe, expect, it } from "vitest";

import { hashPassword, verifyPassword } from "~/server/auth/password";
import { signPayload, verifySignature } from "~/server/webhooks/payments";

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
  const body = JSON.stringify({ type: "payment.failed", orderId: "o1", errorCode: "card_declined" });

  it("accepts the HMAC-SHA256 of the exact raw body", () => {
    expect(verifySignature(secret, body, signPayload(secret, body))).toBe(true);
  });

  it("rejects a missing, wrong-secret, tampered or malformed signature", () => {
    expect(verifySignature(secret, body, null)).toBe(false);
    expect(verifySignature(secret, body, signPayload("other-secret", body))).toBe(false);
    expect(verifySignature(secret, `${body} `, signPayload(secret, body))).toBe(false);
    expect(verifySignature(secret, body, "sha256=zz")).toBe(false);
  });
});
