/**
 * How late deliveries are: milliseconds from an event's emit (its
 * `emittedAt`, stamped before it is appended) to its write to a subscriber's
 * socket, counted in fixed buckets. Recording is one array increment, once
 * per event and not per recipient (an event's recipients are written in one
 * synchronous pass, so they share one reading). Prometheus exposes the
 * cumulative counts as a histogram; the operator console reads the same
 * counts a second apart and takes quantiles of the difference.
 */

/** Upper bounds (ms) of the buckets; the last one is open. */
export const LAG_BUCKETS_MS: readonly number[] = [
  1,
  2,
  3,
  5,
  7.5,
  10,
  15,
  20,
  30,
  50,
  75,
  100,
  150,
  200,
  300,
  500,
  750,
  1_000,
  1_500,
  2_000,
  3_000,
  5_000,
  10_000,
  30_000,
  60_000,
  Infinity,
];

export class DeliveryLag {
  /** Deliveries per bucket since start (cumulative; never reset). */
  readonly counts = new Float64Array(LAG_BUCKETS_MS.length);
  /** Sum of all recorded lags × deliveries (ms), for Prometheus's `_sum`. */
  sumMs = 0;

  /** `deliveries` writes that happened `lagMs` after their event's emit. */
  record(lagMs: number, deliveries = 1): void {
    const lag = lagMs > 0 ? lagMs : 0;
    let at = 0;
    while (lag > LAG_BUCKETS_MS[at]!) at++;
    this.counts[at]! += deliveries;
    this.sumMs += lag * deliveries;
  }

  /** A copy of the counts, to diff against a later one. */
  snapshot(): Float64Array {
    return this.counts.slice();
  }
}

/**
 * The `q` quantile (0..1) of the deliveries counted between two snapshots,
 * as the upper bound of its bucket; null when there were none.
 */
export function lagQuantile(before: Float64Array, after: Float64Array, q: number): number | null {
  let total = 0;
  for (let i = 0; i < after.length; i++) total += after[i]! - (before[i] ?? 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < after.length; i++) {
    seen += after[i]! - (before[i] ?? 0);
    if (seen >= rank) {
      const bound = LAG_BUCKETS_MS[i]!;
      return Number.isFinite(bound) ? bound : LAG_BUCKETS_MS[i - 1]!;
    }
  }
  return null;
}
