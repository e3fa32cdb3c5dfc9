/**
 * What the SSE fast path (src/server/transport/fast-path.ts) relies on in
 * tRPC, through its public API only. Each test fails on a tRPC upgrade that
 * changes the behaviour; the byte-for-byte comparisons of the two transports
 * over HTTP are in tests/e2e/sse-transport.test.ts.
 */
import { callTRPCProcedure, initTRPC, tracked, TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import superjson from "superjson";
import { describe, expect, it } from "vitest";
import { z } from "zod";

import { connectedFrame, errorFrame, SSE_HEADERS } from "~/server/transport/frames";

const t = initTRPC.create({ transformer: superjson, sse: { client: { reconnectAfterInactivityMs: 3_000 } } });
const stream = {
  async *[Symbol.asyncIterator]() {
    yield tracked("1", { n: 1 });
  },
  pipeTo: () => "taken over",
};
const router = t.router({
  live: t.procedure.input(z.object({ from: z.number() })).subscription(() => stream),
  refused: t.procedure.subscription(() => {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in" });
  }),
});

const call = (path: string, input: unknown) =>
  callTRPCProcedure({
    router,
    path,
    getRawInput: () => Promise.resolve(input),
    ctx: {},
    type: "subscription",
    signal: undefined,
    batchIndex: 0,
  });

const stockResponse = (path: string, input?: unknown) =>
  fetchRequestHandler({
    endpoint: "/api/trpc",
    router,
    req: new Request(
      `http://localhost/api/trpc/${path}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(superjson.serialize(input)))}`}`,
    ),
    createContext: () => ({}),
  });

async function firstFrames(response: Response, count: number): Promise<string> {
  const reader = response.body!.getReader();
  let text = "";
  while (text.split("\n\n\n").length <= count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  return text;
}

describe("tRPC behaviour the SSE fast path depends on", () => {
  it("callTRPCProcedure returns a subscription resolver's result as it is, without reading it", async () => {
    expect(await call("live", { from: 1 })).toBe(stream);
  });

  it("callTRPCProcedure runs the input parser and refuses a path that is not a subscription", async () => {
    await expect(call("live", { from: "x" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(call("missing", {})).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("tRPC's SSE responses carry the fast path's headers", async () => {
    const response = await stockResponse("live", { from: 1 });
    for (const [name, value] of Object.entries(SSE_HEADERS)) expect(response.headers.get(name)).toBe(value);
    await response.body?.cancel();
  });

  it("tRPC's handler opens with the `connected` frame the fast path writes, and shapes a refusal as its error frame", async () => {
    const refused = await firstFrames(await stockResponse("refused"), 2);
    const connected = connectedFrame({ reconnectAfterInactivityMs: 3_000 }).toString();
    expect(refused.startsWith(connected)).toBe(true);
    const shape = {
      message: "sign in",
      code: -32001,
      data: { code: "UNAUTHORIZED", httpStatus: 401, path: "refused", stack: expect.any(String) as unknown },
    };
    const frame = refused.slice(connected.length);
    expect(frame.startsWith("event: serialized-error\ndata: ")).toBe(true);
    const data = JSON.parse(frame.slice("event: serialized-error\ndata: ".length).trim()) as Parameters<
      typeof superjson.deserialize
    >[0];
    expect(superjson.deserialize(data)).toEqual(shape);
    expect(errorFrame({ a: 1 }).toString()).toMatch(/^event: serialized-error\ndata: .*\n\n\n$/);
  });
});
