/**
 * Lookups by key that arrive together share one query. The case it is for is
 * a reconnect storm after a deploy: every browser's first connect to the new
 * process needs its sign-in checked and its user's entitlements read, and on
 * the embedded database each query costs about as much for one key as for
 * fifty.
 *
 * A lookup on an idle process waits for the event loop's next turn only. Once
 * lookups keep coming (the previous batch started less than two windows ago),
 * a batch collects keys for `windowMs` before its query runs, so a storm pays
 * one query per window instead of one per connect, at `windowMs` of latency.
 */
export interface BatchedLookupOptions {
  /** Keys per query at most; a full batch is sent and the next one starts. */
  maxBatch?: number;
  /** How long a batch collects keys while lookups keep coming (ms). */
  windowMs?: number;
}

interface Batch<K, V> {
  keys: Set<K>;
  values: Promise<ReadonlyMap<K, V>>;
}

/**
 * Wraps `load` (all found values by key; a key it leaves out resolves to
 * `undefined`). A failed load fails the lookups of its own batch only.
 */
export function batchedLookup<K, V>(
  load: (keys: K[]) => Promise<ReadonlyMap<K, V>>,
  { maxBatch = 500, windowMs = 20 }: BatchedLookupOptions = {},
): (key: K) => Promise<V | undefined> {
  let collecting: Batch<K, V> | null = null;
  let lastStart = Number.NEGATIVE_INFINITY;

  const start = (): Batch<K, V> => {
    const keys = new Set<K>();
    const now = Date.now();
    const busy = now - lastStart < 2 * windowMs;
    lastStart = now;
    const batch: Batch<K, V> = {
      keys,
      values: new Promise<void>((resolve) => (busy ? setTimeout(resolve, windowMs) : setImmediate(resolve))).then(
        () => {
          if (collecting === batch) collecting = null;
          return load([...keys]);
        },
      ),
    };
    return batch;
  };

  return (key) => {
    if (!collecting || collecting.keys.size >= maxBatch) collecting = start();
    collecting.keys.add(key);
    return collecting.values.then((values) => values.get(key));
  };
}
