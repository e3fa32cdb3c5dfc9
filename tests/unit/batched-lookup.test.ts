import { afterEach, describe, expect, it, vi } from "vitest";

import { batchedLookup } from "~/server/db/batched-lookup";

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A load that records the keys of each call and finds every key but "missing". */
function recordingLoad() {
  const calls: string[][] = [];
  const load = (keys: string[]) => {
    calls.push(keys);
    return Promise.resolve(new Map(keys.filter((k) => k !== "missing").map((k) => [k, `value of ${k}`])));
  };
  return { calls, load };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("batchedLookup", () => {
  it("answers lookups of one turn with one load; a key the load leaves out is undefined", async () => {
    const { calls, load } = recordingLoad();
    const lookup = batchedLookup(load);
    const answers = await Promise.all(["a", "b", "a", "missing"].map(lookup));
    expect(answers).toEqual(["value of a", "value of b", "value of a", undefined]);
    expect(calls).toEqual([["a", "b", "missing"]]);
  });

  it("runs an isolated lookup on the next turn, without waiting for the window", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "Date"] });
    const { calls, load } = recordingLoad();
    const lookup = batchedLookup(load, { windowMs: 20 });
    const answer = lookup("a");
    await nextTurn();
    expect(calls).toEqual([["a"]]);
    await expect(answer).resolves.toBe("value of a");
  });

  it("collects keys for a window while lookups keep coming, turn after turn", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "Date"] });
    const { calls, load } = recordingLoad();
    const lookup = batchedLookup(load, { windowMs: 20 });
    const answers: Promise<string | undefined>[] = [];
    // 40 lookups, one every 2 ms, each in an event-loop turn of its own.
    for (let i = 0; i < 40; i++) {
      answers.push(lookup(`k${i}`));
      await nextTurn();
      await vi.advanceTimersByTimeAsync(2);
    }
    await vi.advanceTimersByTimeAsync(20);
    expect(await Promise.all(answers)).toEqual(Array.from({ length: 40 }, (_, i) => `value of k${i}`));
    expect(calls.flat().sort()).toEqual(Array.from({ length: 40 }, (_, i) => `k${i}`).sort());
    // The first alone, then about one load per 20 ms window instead of one per lookup.
    expect(calls[0]).toEqual(["k0"]);
    expect(calls.length).toBeLessThanOrEqual(6);
  });

  it("sends a full batch and starts the next", async () => {
    const { calls, load } = recordingLoad();
    const lookup = batchedLookup(load, { maxBatch: 3, windowMs: 0 });
    await Promise.all(["a", "b", "c", "d", "e"].map(lookup));
    expect(calls).toEqual([
      ["a", "b", "c"],
      ["d", "e"],
    ]);
  });

  it("fails the lookups of a failed load only; the next batch is answered", async () => {
    let fail = true;
    const lookup = batchedLookup((keys: string[]) =>
      fail ? Promise.reject(new Error("database down")) : Promise.resolve(new Map(keys.map((k) => [k, k]))),
    );
    const failed = [lookup("a"), lookup("b")];
    await expect(Promise.all(failed)).rejects.toThrow("database down");
    await Promise.allSettled(failed);
    fail = false;
    await expect(lookup("a")).resolves.toBe("a");
  });
});
