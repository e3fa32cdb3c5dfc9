/**
 * Who is online in each organisation, counted by open subscriptions.
 *
 * Contract, for every implementation (tests/conformance/presence.suite.ts):
 * - A member is online in an organisation while at least one of their
 *   connections that belongs to it is open.
 * - `onChange` is called exactly once per transition (offline→online and
 *   online→offline, per member and organisation), after the state changed,
 *   never for a connection that did not change anything.
 * - `join`, `update` and `leave` are idempotent per connection id; `leave`
 *   of an unknown connection does nothing.
 * - `online` lists members oldest connection first.
 */
type MaybePromise<T> = T | Promise<T>;

export interface PresenceMember {
  userId: string;
  userName: string | null;
}

export interface PresenceChange {
  organizationId: string;
  userId: string;
  userName: string | null;
  online: boolean;
}

export interface OnlineMember {
  userId: string;
  name: string | null;
  connections: number;
  onlineSince: string;
}

export interface Presence {
  join(connectionId: string, member: PresenceMember, organizationIds: readonly string[]): MaybePromise<void>;
  /** The connection's organisations changed (re-authorisation). */
  update(connectionId: string, organizationIds: readonly string[]): MaybePromise<void>;
  leave(connectionId: string): MaybePromise<void>;
  online(organizationId: string): MaybePromise<OnlineMember[]>;
}

export type PresenceListener = (change: PresenceChange) => void;
