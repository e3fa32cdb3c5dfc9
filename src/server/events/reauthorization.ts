/**
 * Periodic re-authorisation of one open subscription: calls `check` every
 * `intervalMs`, never two at once, and never again once stopped.
 */
export class Reauthorization {
  private readonly timer: NodeJS.Timeout;
  private running = false;
  private stopped = false;

  constructor(
    intervalMs: number,
    private readonly check: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** True once stopped: a check still in flight must not act on its result. */
  get isStopped(): boolean {
    return this.stopped;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.check()
      .catch(this.onError)
      .finally(() => {
        this.running = false;
      });
  }
}
