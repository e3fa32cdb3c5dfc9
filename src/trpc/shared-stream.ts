"use client";

/**
 * One live stream for every tab of a sign-in. The tabs elect a leader with
 * the Web Locks API: the tab holding the lock opens the stream and relays
 * what it receives over a BroadcastChannel; the others listen. When the
 * leader closes or crashes the lock passes to a waiting tab at once; when it
 * is frozen (no heartbeat for `takeOverAfterMs`) a follower steals the lock.
 * The new leader resumes from the last id the tabs saw, and ids already seen
 * are dropped, so a hand-over loses and repeats nothing. Ids are sealed by
 * the server: they compare for equality only, and order is arrival order.
 *
 * Each tab applies its own subscribers' `names` filter, and events sent to
 * one tab (`LiveEvent.tabId`) reach that tab alone.
 */
import type { TRPCClientError } from "@trpc/client";

import type { LiveEvent } from "~/server/events";

export interface StreamItem {
  id: string;
  event: LiveEvent;
}

/** An error as it crosses tabs (structured clone keeps plain data only). */
export interface ErrorShape {
  message: string;
  code: number;
  data?: Record<string, unknown>;
}

export type StreamState =
  { type: "started" } | { type: "state"; state: "connecting" | "pending"; error: ErrorShape | null };

/** What a subscriber in this tab is told, in tRPC link terms. */
export interface TabSubscriber {
  names: ReadonlySet<string> | null;
  /** The last id this subscriber saw (its resume cursor), or null. */
  cursor: string | null;
  started: boolean;
  onItem(item: StreamItem): void;
  onState(state: StreamState): void;
  onError(error: ErrorShape): void;
}

/** Opens the real stream (the leader's): returns the function that closes it. */
export type OpenStream = (
  lastEventId: string | null,
  handlers: {
    onItem(item: StreamItem): void;
    onState(state: StreamState): void;
    onError(error: ErrorShape): void;
  },
) => () => void;

type Message =
  | { t: "item"; item: StreamItem }
  | { t: "state"; state: StreamState }
  | { t: "error"; error: ErrorShape }
  | { t: "hb"; leader: string; live: boolean; lastId: string | null }
  | { t: "hello" };

export type SharedRole = { role: "leader" | "follower"; holder: string | null; tabId: string };

const HEARTBEAT_MS = 500;
const BUFFER = 500;

export interface SharedStreamOptions {
  /** The sign-in the page was rendered for: tabs of one sign-in share. */
  signIn: string;
  tabId: string;
  open: OpenStream;
  /** A follower takes over after this long without the leader's heartbeat. */
  takeOverAfterMs?: number;
}

export class SharedStream {
  private readonly subscribers = new Set<TabSubscriber>();
  private readonly name: string;
  private channel: BroadcastChannel | null = null;
  private running = false;
  private live = false;
  private lastId: string | null = null;
  /** The latest events, so a subscriber that re-subscribes in this tab misses nothing. */
  private buffer: StreamItem[] = [];
  /** Events received so far: the position after the newest. */
  private received = 0;
  /** Where each id still covered by the buffer stands (events before the position after it), oldest first. */
  private readonly positions = new Map<string, number>();
  private leading: {
    /** The lock request that made this tab the leader. */
    request: object;
    close: () => void;
    release: () => void;
    heartbeat: ReturnType<typeof setInterval>;
  } | null = null;
  private queued: AbortController | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private lastHeartbeatAt = 0;
  private holder: string | null = null;
  private readonly takeOverAfterMs: number;

  constructor(private readonly options: SharedStreamOptions) {
    this.name = `t3-live-events:${options.signIn}`;
    this.takeOverAfterMs = options.takeOverAfterMs ?? 2_000;
  }

  /** Web Locks and BroadcastChannel, in a secure context: otherwise each tab keeps its own stream. */
  static available(): boolean {
    return (
      typeof window !== "undefined" &&
      window.isSecureContext &&
      typeof BroadcastChannel !== "undefined" &&
      typeof navigator !== "undefined" &&
      "locks" in navigator
    );
  }

  /** Adds a subscriber of this tab; returns the function that removes it. */
  attach(subscriber: TabSubscriber): () => void {
    this.subscribers.add(subscriber);
    subscriber.onState({ type: "state", state: "connecting", error: null });
    this.start();
    if (this.live) this.begin(subscriber);
    return () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.stop();
    };
  }

  get signIn(): string {
    return this.options.signIn;
  }

  get role(): SharedRole {
    return { role: this.leading ? "leader" : "follower", holder: this.holder, tabId: this.options.tabId };
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    this.channel = new BroadcastChannel(this.name);
    this.channel.onmessage = (e: MessageEvent<Message>) => this.onMessage(e.data);
    this.channel.postMessage({ t: "hello" } satisfies Message);
    this.lastHeartbeatAt = Date.now();
    this.watchdog = setInterval(() => this.checkLeader(), HEARTBEAT_MS);
    this.queue(false);
  }

  private stop(): void {
    if (!this.running) return;
    this.running = false;
    this.abdicate();
    this.queued?.abort();
    this.queued = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.channel?.close();
    this.channel = null;
    this.live = false;
    this.setHolder(null);
  }

  /** Waits for the lock (or takes it from a leader that stopped answering). */
  private queue(steal: boolean): void {
    if (!this.running) return;
    this.queued?.abort();
    const abort = new AbortController();
    this.queued = steal ? null : abort;
    const request = {};
    navigator.locks
      .request(this.name, steal ? { steal: true } : { signal: abort.signal }, () => this.lead(request))
      .catch(() => {
        // Aborted while queued (nothing to do), or stolen from us: then step down and queue again.
        if (this.leading?.request === request) {
          this.abdicate();
          this.queue(false);
        }
      });
  }

  /** Holds the lock until this tab stops leading. */
  private lead(request: object): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.queued = null;
    return new Promise<void>((release) => {
      const heartbeat = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
      this.leading = { request, close: () => {}, release, heartbeat };
      this.setHolder(this.options.tabId);
      this.heartbeat();
      this.leading.close = this.options.open(this.lastId, {
        onItem: (item) => {
          this.post({ t: "item", item });
          this.receive(item);
        },
        onState: (state) => {
          this.post({ t: "state", state });
          this.applyState(state);
        },
        onError: (error) => {
          this.post({ t: "error", error });
          this.fail(error);
        },
      });
    });
  }

  private abdicate(): void {
    const leading = this.leading;
    if (!leading) return;
    this.leading = null;
    clearInterval(leading.heartbeat);
    leading.close();
    leading.release();
    this.setHolder(null);
  }

  private heartbeat(): void {
    this.post({ t: "hb", leader: this.options.tabId, live: this.live, lastId: this.lastId });
  }

  private post(message: Message): void {
    this.channel?.postMessage(message);
  }

  private checkLeader(): void {
    if (this.leading || !this.running) return;
    if (Date.now() - this.lastHeartbeatAt <= this.takeOverAfterMs) return;
    // The leader is gone without releasing the lock (frozen, or stuck): take over.
    this.lastHeartbeatAt = Date.now();
    if (this.live) this.applyState({ type: "state", state: "connecting", error: null });
    this.queue(true);
  }

  private onMessage(message: Message): void {
    switch (message.t) {
      case "hello":
        if (this.leading) this.heartbeat();
        return;
      case "hb":
        this.lastHeartbeatAt = Date.now();
        this.setHolder(message.leader);
        // A tab that joined after the stream went live learns where it stands.
        if (message.live && !this.live && message.lastId !== null && !this.leading) {
          if (this.lastId === null) {
            this.lastId = message.lastId;
            this.positions.set(message.lastId, this.received);
          }
          this.live = true;
          for (const subscriber of this.subscribers) if (!subscriber.started) this.begin(subscriber);
        }
        return;
      case "item":
        this.lastHeartbeatAt = Date.now();
        this.receive(message.item);
        return;
      case "state":
        this.applyState(message.state);
        return;
      case "error":
        this.fail(message.error);
        return;
    }
  }

  private receive(item: StreamItem): void {
    const name = item.event.name;
    if (name === "system.ready") {
      this.live = true;
      this.at(item.id);
      for (const subscriber of this.subscribers) {
        if (subscriber.started) subscriber.onItem(item);
        else this.begin(subscriber);
      }
      return;
    }
    if (name === "system.gap") {
      this.buffer = [];
      this.positions.clear();
      this.at(item.id);
      for (const subscriber of this.subscribers) if (subscriber.started) subscriber.onItem(item);
      return;
    }
    if (this.positions.has(item.id)) return; // seen already
    this.buffer.push(item);
    this.received++;
    this.at(item.id);
    if (this.buffer.length > BUFFER) {
      this.buffer.shift();
      const oldest = this.received - this.buffer.length;
      for (const [id, position] of this.positions) {
        if (position >= oldest) break;
        this.positions.delete(id);
      }
    }
    for (const subscriber of this.subscribers) if (subscriber.started) this.forward(subscriber, item);
  }

  /** The stream now stands at `id`: the newest cursor, and a position a subscriber can resume from. */
  private at(id: string): void {
    this.lastId = id;
    this.positions.set(id, this.received);
  }

  private forward(subscriber: TabSubscriber, item: StreamItem): void {
    const event = item.event;
    if (event.tabId !== undefined && event.tabId !== this.options.tabId) return;
    if (subscriber.names && !event.name.startsWith("system.") && !subscriber.names.has(event.name)) return;
    subscriber.cursor = item.id;
    subscriber.onItem(item);
  }

  /** A subscriber joins a live stream: what it missed since its cursor (or a gap), then ready. */
  private begin(subscriber: TabSubscriber): void {
    subscriber.started = true;
    subscriber.onState({ type: "started" });
    subscriber.onState({ type: "state", state: "pending", error: null });
    const head = this.lastId!;
    const from = subscriber.cursor;
    let replayed = 0;
    const position = from === null ? undefined : this.positions.get(from);
    if (from !== null && position === undefined) {
      subscriber.onItem(
        systemItem(head, "system.gap", {
          lastEventId: from,
          oldestAvailableId: this.buffer[0]?.id ?? null,
          reason: "retention_exceeded",
        }),
      );
    } else if (position !== undefined) {
      for (const item of this.buffer.slice(position - (this.received - this.buffer.length))) {
        this.forward(subscriber, item);
        replayed++;
      }
    }
    subscriber.onItem(
      systemItem(head, "system.ready", { connectionId: `shared:${this.holder ?? "?"}`, resumedFrom: from, replayed }),
    );
  }

  private applyState(state: StreamState): void {
    if (state.type === "state" && state.state === "connecting") this.live = false;
    for (const subscriber of this.subscribers) if (subscriber.started) subscriber.onState(state);
  }

  /** The shared stream ended with an error (signed out, refused): every tab's subscribers end with it. */
  private fail(error: ErrorShape): void {
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    this.stop();
    for (const subscriber of subscribers) subscriber.onError(error);
  }

  private setHolder(holder: string | null): void {
    if (this.holder === holder) return;
    this.holder = holder;
    notifyRole();
  }
}

function systemItem<N extends "system.ready" | "system.gap">(
  id: string,
  name: N,
  data: Extract<LiveEvent, { name: N }>["data"],
): StreamItem {
  return { id, event: { id, name, version: 1, data, emittedAt: new Date().toISOString() } as LiveEvent };
}

/** The shape of a tRPC client error, as it crosses tabs. */
export function errorShapeOf(error: TRPCClientError<never> | Error): ErrorShape {
  const shape = (error as { shape?: ErrorShape }).shape;
  return shape
    ? { message: shape.message, code: shape.code, data: shape.data }
    : { message: error.message, code: -32603, data: { code: "INTERNAL_SERVER_ERROR" } };
}

// Which tab holds the connection, for the page to show.
let current: SharedStream | null = null;
const listeners = new Set<() => void>();
let snapshot: SharedRole | null = null;

function notifyRole() {
  snapshot = current ? current.role : null;
  for (const listener of listeners) listener();
}

export function setCurrentSharedStream(stream: SharedStream | null) {
  current = stream;
  notifyRole();
}

export const sharedRoleStore = {
  subscribe: (listener: () => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  },
  get: (): SharedRole | null => snapshot,
};
