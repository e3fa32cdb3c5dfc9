/**
 * An EventSource that reconnects with exponential backoff and full jitter:
 * after the n-th failure in a row it waits a random time between 0 and
 * min(capMs, baseMs · 2^n), so when an instance dies or a fleet restarts,
 * its clients come back spread out instead of all at once (a browser's own
 * EventSource retries every client after the same fixed delay). Each new
 * connection resumes after the last id received (`lastEventId` in the URL,
 * which the server reads like Last-Event-ID). Given to httpSubscriptionLink
 * as its `EventSource`; tRPC sees an ordinary EventSource.
 *
 * A server that shuts down says when each client should come back (a
 * `reconnect` event before the stream ends): that delay replaces the backoff
 * for the next attempt, so a drained fleet returns at the pace the server set.
 */

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  random?: () => number;
  /** The real EventSource (the browser's by default). */
  EventSource?: typeof EventSource;
}

/** The longest a server may ask a client to wait before reconnecting. */
const MAX_RECONNECT_HINT_MS = 120_000;

/** The delay a `reconnect` event asks for, or null if its data is not a sane one. */
function reconnectHint(data: unknown): number | null {
  if (typeof data !== "string" || data.length > 100) return null;
  try {
    const afterMs = (JSON.parse(data) as { afterMs?: unknown } | null)?.afterMs;
    return typeof afterMs === "number" && afterMs >= 0 && afterMs <= MAX_RECONNECT_HINT_MS ? afterMs : null;
  } catch {
    return null;
  }
}

/** The delay before reconnect attempt `attempt` (0-based): full jitter over an exponential window. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random) {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

export function backoffEventSource(options: BackoffOptions = {}) {
  const baseMs = options.baseMs ?? 500;
  const capMs = options.capMs ?? 5_000;
  const random = options.random ?? Math.random;

  return class BackoffEventSource extends EventTarget {
    readonly CONNECTING = 0;
    readonly OPEN = 1;
    readonly CLOSED = 2;
    readyState = 0;
    private source: EventSource | null = null;
    private readonly forwarded = new Set<string>();
    private lastEventId: string | null = null;
    private failures = 0;
    /** When the server that ended the last stream asked to be reconnected to. */
    private hintMs: number | null = null;
    private timer: ReturnType<typeof setTimeout> | null = null;

    constructor(
      readonly url: string,
      private readonly init?: EventSourceInit,
    ) {
      super();
      this.connect();
    }

    get withCredentials(): boolean {
      return this.init?.withCredentials ?? false;
    }

    override addEventListener(...args: Parameters<EventTarget["addEventListener"]>): void {
      super.addEventListener(...args);
      this.forward(args[0]);
    }

    close(): void {
      this.readyState = this.CLOSED;
      if (this.timer) clearTimeout(this.timer);
      this.source?.close();
      this.source = null;
    }

    private connect(): void {
      // The browser's own unless one was given (tests pass the `eventsource` package's).
      const Source = options.EventSource ?? EventSource;
      const url = new URL(this.url, typeof location === "undefined" ? undefined : location.href);
      if (this.lastEventId !== null) url.searchParams.set("lastEventId", this.lastEventId);
      const source = new Source(url.toString(), this.init);
      this.source = source;
      source.addEventListener("reconnect", (event) => {
        if (this.source === source) this.hintMs = reconnectHint((event as MessageEvent<unknown>).data);
      });
      source.addEventListener("open", () => {
        this.failures = 0;
        this.readyState = this.OPEN;
        this.dispatchEvent(new Event("open"));
      });
      source.addEventListener("error", () => {
        if (this.source !== source || this.readyState === this.CLOSED) return;
        // Our schedule, not the browser's: stop its own retry.
        source.close();
        this.source = null;
        this.readyState = this.CONNECTING;
        this.dispatchEvent(new Event("error"));
        const delay = this.hintMs ?? backoffDelay(this.failures++, baseMs, capMs, random);
        this.hintMs = null;
        this.timer = setTimeout(() => this.connect(), delay);
      });
      for (const type of this.forwarded) this.relay(source, type);
    }

    private forward(type: string): void {
      if (type === "open" || type === "error" || this.forwarded.has(type)) return;
      this.forwarded.add(type);
      if (this.source) this.relay(this.source, type);
    }

    private relay(source: EventSource, type: string): void {
      source.addEventListener(type, (event) => {
        const message = event as MessageEvent<unknown>;
        if (message.lastEventId) this.lastEventId = message.lastEventId;
        this.dispatchEvent(new MessageEvent(type, { data: message.data, lastEventId: message.lastEventId }));
      });
    }
  };
}
