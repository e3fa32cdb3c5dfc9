/**
 * An open stream ends when its session does: tried over HTTP against a
 * production server of its own, whose sign-ins last six seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { signIn, startApp, type AppServer } from "../helpers/app-server";
import { live, trpcClient, until } from "./http-client";

const MAX_AGE_S = 6;
let server: AppServer;

beforeAll(async () => {
  server = await startApp({
    build: false,
    env: {
      AUTH_SESSION_MAX_AGE_S: String(MAX_AGE_S),
      EVENTS_REAUTHORIZE_INTERVAL_MS: "2000",
      ESCROW_JOB_INTERVAL_MS: "0",
    },
  });
});

afterAll(async () => {
  await server.stop();
});

describe("sessions end on time", () => {
  it("a stream ends with UNAUTHORIZED when its cookie expires, and the cookie is refused afterwards", async () => {
    const signedInAt = Date.now();
    const cookie = await signIn(server.baseUrl, "carol@globex.test");
    const { client } = trpcClient(cookie, { url: server.baseUrl });
    const sub = live(client, { names: ["notification.created"] });
    await sub.ready();
    await until(() => sub.errors.length > 0, "the stream to end", (MAX_AGE_S + 6) * 1_000);
    const endedAfterMs = Date.now() - signedInAt;
    expect(sub.errors[0]!.data?.code).toBe("UNAUTHORIZED");
    expect(endedAfterMs).toBeGreaterThanOrEqual(MAX_AGE_S * 1_000 - 1_000);
    expect(endedAfterMs).toBeLessThan((MAX_AGE_S + 4) * 1_000);
    sub.unsubscribe();
    await expect(client.notification.recipients.query()).rejects.toMatchObject({ data: { code: "UNAUTHORIZED" } });
  });
});
