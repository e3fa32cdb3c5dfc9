/**
 * Local delivery: an index of this process's subscribers by user, session,
 * organisation and metadata pair, so that routing an event costs in the
 * number of its recipients, not in the number of open connections.
 */
import type { EventName } from "./catalog";
import type { EventEnvelope } from "./envelope";
import { splitSessionId, type SubscriberIdentity } from "./identity";
import { isAddressedTo, type EventTarget } from "./targets";

export interface Subscriber extends SubscriberIdentity {
  readonly id: string;
  /** Only these names are delivered; null means every name. */
  readonly names: ReadonlySet<EventName> | null;
  /** Must not throw; a throwing subscriber is isolated and reported. */
  readonly deliver: (envelope: EventEnvelope) => void;
}

type Bucket = Set<Subscriber>;

function addTo(map: Map<string, Bucket>, key: string, subscriber: Subscriber) {
  let bucket = map.get(key);
  if (!bucket) map.set(key, (bucket = new Set()));
  bucket.add(subscriber);
}

function removeFrom(map: Map<string, Bucket>, key: string, subscriber: Subscriber) {
  const bucket = map.get(key);
  if (!bucket) return;
  bucket.delete(subscriber);
  if (bucket.size === 0) map.delete(key);
}

const metadataKey = (key: string, value: string) => `${key}\u0000${value}`;
const EMPTY: Bucket = new Set();

export class SubscriberIndex {
  private readonly all = new Set<Subscriber>();
  private readonly byUser = new Map<string, Bucket>();
  private readonly bySession = new Map<string, Bucket>();
  /** Streams shared by every tab of a sign-in, by sign-in session. */
  private readonly byBrowser = new Map<string, Bucket>();
  private readonly byOrganization = new Map<string, Bucket>();
  private readonly byMetadata = new Map<string, Bucket>();

  constructor(
    private readonly onDeliveryError: (subscriber: Subscriber, error: unknown) => void = () => {},
    /** Names delivered only to subscribers that name them (see `EventDefinition.optIn`). */
    private readonly isOptIn: (name: EventName) => boolean = () => false,
  ) {}

  get size(): number {
    return this.all.size;
  }

  /** Number of index keys in use; 0 after every subscriber left (tests check for leaks). */
  get keyCount(): number {
    return (
      this.byUser.size + this.bySession.size + this.byBrowser.size + this.byOrganization.size + this.byMetadata.size
    );
  }

  add(subscriber: Subscriber): () => void {
    this.all.add(subscriber);
    addTo(this.byUser, subscriber.userId, subscriber);
    if (subscriber.allTabs) {
      addTo(this.byBrowser, subscriber.signInSessionId, subscriber);
    } else {
      addTo(this.bySession, subscriber.sessionId, subscriber);
      if (subscriber.signInSessionId !== subscriber.sessionId)
        addTo(this.bySession, subscriber.signInSessionId, subscriber);
    }
    for (const org of subscriber.organizationIds) addTo(this.byOrganization, org, subscriber);
    for (const [key, value] of Object.entries(subscriber.metadata)) {
      addTo(this.byMetadata, metadataKey(key, value), subscriber);
    }
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.remove(subscriber);
    };
  }

  private remove(subscriber: Subscriber) {
    this.all.delete(subscriber);
    removeFrom(this.byUser, subscriber.userId, subscriber);
    if (subscriber.allTabs) {
      removeFrom(this.byBrowser, subscriber.signInSessionId, subscriber);
    } else {
      removeFrom(this.bySession, subscriber.sessionId, subscriber);
      removeFrom(this.bySession, subscriber.signInSessionId, subscriber);
    }
    for (const org of subscriber.organizationIds) removeFrom(this.byOrganization, org, subscriber);
    for (const [key, value] of Object.entries(subscriber.metadata)) {
      removeFrom(this.byMetadata, metadataKey(key, value), subscriber);
    }
  }

  /** The smallest indexed set that contains every recipient of `target`. */
  private candidates(target: EventTarget): Iterable<Subscriber> {
    switch (target.kind) {
      case "broadcast":
        return this.all;
      case "user":
        return this.byUser.get(target.userId) ?? EMPTY;
      case "session": {
        // The tab's (or sign-in's) own streams, and the sign-in's shared ones: disjoint sets.
        const own = this.bySession.get(target.sessionId);
        const shared = this.byBrowser.get(splitSessionId(target.sessionId).signInSessionId);
        if (!shared) return own ?? EMPTY;
        return own ? [...own, ...shared] : shared;
      }
      case "organization":
        return this.byOrganization.get(target.organizationId) ?? EMPTY;
      case "metadata": {
        let smallest: Bucket = target.organizationId
          ? (this.byOrganization.get(target.organizationId) ?? EMPTY)
          : this.all;
        for (const [key, value] of Object.entries(target.match)) {
          const bucket = this.byMetadata.get(metadataKey(key, value)) ?? EMPTY;
          if (bucket.size < smallest.size) smallest = bucket;
        }
        return smallest;
      }
    }
  }

  /** Subscribers that `target` addresses, before name filtering. */
  *recipients(target: EventTarget): Generator<Subscriber> {
    for (const subscriber of this.candidates(target)) {
      // Buckets are supersets only for metadata targets; the check is cheap for the rest.
      if (target.kind !== "metadata" || isAddressedTo(target, subscriber)) yield subscriber;
    }
  }

  /** Delivers to every addressed subscriber that wants this name. Returns the number reached. */
  deliver(envelope: EventEnvelope): number {
    let reached = 0;
    const optIn = this.isOptIn(envelope.name);
    // Snapshot: a subscriber may unsubscribe (and mutate a bucket) while being delivered to.
    for (const subscriber of [...this.recipients(envelope.target)]) {
      if (subscriber.names ? !subscriber.names.has(envelope.name) : optIn) continue;
      try {
        subscriber.deliver(envelope);
        reached++;
      } catch (error) {
        this.onDeliveryError(subscriber, error);
      }
    }
    return reached;
  }
}
