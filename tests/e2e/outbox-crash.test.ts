/**
 * No event about a committed change is lost to a crash: a production server
 * of its own records an order with its event and is killed (SIGKILL) before
 * the event was published (its relay is off, as for a process that dies
 * right after the commit); the restarted server's relay publishes it, once,
 * and a client resuming from a cursor taken before the crash replays it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { signIn, startApp, type AppServer } from "../helpers/app-server";
import { freePort } from "../helpers/ports";
import { live, trpcClient, until } from "./http-client";

const dataDir = mkdtempSync(join(tmpdir(), "t3-live-events-outbox-"));
let server: AppServer | undefined;

afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("outbox across a crash", () => {
  it("an event committed but not published before a SIGKILL is published once after the restart", async () => {
    const port = await freePort();
    const env = { ESCROW_JOB_INTERVAL_MS: "0", OUTBOX_POLL_MS: "5000" };
    server = await startApp({ build: false, port, dataDir, env: { ...env, OUTBOX_RELAY: "false" } });
    const cookie = await signIn(server.baseUrl, "alice@acme.test");
    const before = live(trpcClient(cookie, { url: server.baseUrl }).client, { names: ["order.created"] });
    await before.ready();
    const cursor = before.received.at(-1)!.id;
    const order = await trpcClient(cookie, { url: server.baseUrl }).client.order.create.mutate({
      title: "Survives a crash",
      totalCents: 4_200,
      currency: "USD",
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(before.events()).toEqual([]); // committed, not published
    before.unsubscribe();
    server.process.kill("SIGKILL");
    await new Promise((r) => server!.process.once("exit", r));

    server = await startApp({ build: false, port, dataDir, env });
    const after = live(trpcClient(cookie, { url: server.baseUrl }).client, { names: ["order.created"] });
    await after.ready();
    await until(() => after.events().length >= 1, "the recovered event", 15_000);
    await new Promise((r) => setTimeout(r, 5_500)); // the next poll publishes nothing more
    expect(after.events().map((r) => r.event.data)).toEqual([
      expect.objectContaining({ orderId: order.id, orderVersion: 1, displayAmount: "$42.00" }),
    ]);
    after.unsubscribe();

    // The history is in the database: a cursor taken before the crash resumes with the event, and no gap.
    const resumed = live(trpcClient(cookie, { url: server.baseUrl }).client, {
      names: ["order.created"],
      lastEventId: cursor,
    });
    await resumed.ready();
    expect(resumed.count("system.gap")).toBe(0);
    expect(resumed.events().map((r) => r.event.data)).toEqual([expect.objectContaining({ orderId: order.id })]);
    resumed.unsubscribe();
  });
});
