/**
 * A short-lived cache of users' entitlements in front of the app's lookup:
 * a burst of connects by one user (many tabs, a reconnect storm after a
 * deploy) costs one lookup, and concurrent misses share it. Re-authorisation
 * refreshes through it, so what it reads serves the next connects too.
 */
import type { Entitlements, EntitlementLookup } from "./identity";

interface CacheEntry {
  value: Promise<Entitlements | null>;
  expiresAt: number;
}

export class EntitlementCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    private readonly lookup: EntitlementLookup,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user's entitlements, at most `ttlMs` old. */
  get(userId: string): Promise<Entitlements | null> {
    const entry = this.entries.get(userId);
    if (entry && entry.expiresAt > this.now()) return entry.value;
    return this.refresh(userId);
  }

  /** Reads the user's entitlements now and keeps them for the next `get`s. */
  refresh(userId: string): Promise<Entitlements | null> {
    const value = this.lookup(userId);
    this.entries.delete(userId); // re-insert: the Map's order is the eviction order
    this.entries.set(userId, { value, expiresAt: this.now() + this.ttlMs });
    // A failed lookup is not cached.
    value.catch(() => {
      if (this.entries.get(userId)?.value === value) this.entries.delete(userId);
    });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  /** Forgets a user (their memberships or role changed). */
  invalidate(userId: string): void {
    this.entries.delete(userId);
  }

  get size(): number {
    return this.entries.size;
  }
}
