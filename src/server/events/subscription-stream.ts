/**
 * A subscription as an async iterable, for consumers that pull: tRPC's
 * procedure (its stock SSE handler and `createCaller`). It holds up to
 * `highWaterMark` items; beyond that the subscription stops writing and
 * catches up from the replay log once the reader has drained what it holds.
 *
 * A consumer that can take items as they come (the SSE fast path) calls
 * `pipeTo` instead of reading: what is held goes to its sink, and every later
 * item goes straight there, with no queue or promise per delivery.
 */
import type { StreamItem } from "./envelope";
import type { Subscription, SubscriptionSink } from "./subscription";

export class SubscriptionStream implements SubscriptionSink, AsyncIterable<StreamItem> {
  private items: StreamItem[] = [];
  private next = 0;
  private waiter: (() => void) | null = null;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private subscription: Subscription | undefined;
  private detachSignal: () => void = () => {};
  /** Set by `pipeTo`: where items go instead of the queue. */
  private target: SubscriptionSink | null = null;

  constructor(private readonly highWaterMark: number) {}

  write(item: StreamItem): boolean {
    if (this.target) return this.target.write(item);
    this.items.push(item);
    this.wake();
    return this.items.length - this.next < this.highWaterMark;
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) this.failure = { error };
    this.detachSignal();
    if (this.target) this.target.end(error);
    this.wake();
  }

  /**
   * Hands the stream over to `sink`: the items held so far, then every later
   * one, and the end. Returns the subscription, which the sink asks to
   * `resume` once it can take more. Only before anyone started reading.
   */
  pipeTo(sink: SubscriptionSink): Subscription {
    if (!this.subscription) throw new Error("pipeTo before the subscription was attached");
    if (this.target || this.next > 0) throw new Error("the stream is already being read");
    this.target = sink;
    const held = this.items;
    this.items = [];
    for (const item of held) sink.write(item);
    if (this.ended) sink.end(this.failure?.error);
    return this.subscription;
  }

  /** Binds the subscription this stream carries: an abort of `signal` closes it. */
  attach(subscription: Subscription, signal?: AbortSignal): this {
    this.subscription = subscription;
    if (signal) {
      const onAbort = () => subscription.close("client_closed");
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        this.detachSignal = () => signal.removeEventListener("abort", onAbort);
      }
    }
    return this;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StreamItem, void, undefined> {
    try {
      for (;;) {
        if (this.next < this.items.length) {
          const item = this.items[this.next++]!;
          if (this.next === this.items.length) {
            this.items = [];
            this.next = 0;
          }
          yield item;
          continue;
        }
        if (this.ended) {
          if (this.failure) throw this.failure.error;
          return;
        }
        // Drained: a subscription that fell behind may write again now.
        this.subscription?.resume();
        if (this.next === this.items.length && !this.ended) {
          await new Promise<void>((resolve) => (this.waiter = resolve));
        }
      }
    } finally {
      this.subscription?.close("client_closed");
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}
