/**
 * Tells `onStall` once a wait has lasted `ms` without anything moving. One timer at a time for the
 * watch's whole life, not one per move: a stream moves once per chunk, and a timer set and cleared on
 * every chunk costs more than the chunk's own work. A timer that fires early (the wait moved or ended
 * meanwhile) only sets the next one for what is left.
 */
export class StallWatch {
  /** When the current wait started, or last moved; null while nothing waits. */
  private since: number | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(
    private readonly ms: number,
    private readonly onStall: () => void,
  ) {}

  /** A wait starts (nothing happens if one is already on). */
  start(): void {
    if (this.disposed || this.since !== null) return;
    this.since = Date.now();
    this.arm(this.ms);
  }

  /** Something moved: the current wait counts from now. */
  moved(): void {
    if (this.since !== null) this.since = Date.now();
  }

  /** The wait is over: nothing is stalled (the pending timer, if any, finds nothing to do). */
  stop(): void {
    this.since = null;
  }

  /** No more waits: the timer goes too. */
  dispose(): void {
    this.disposed = true;
    this.since = null;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.fire(), ms);
  }

  private fire(): void {
    this.timer = undefined;
    if (this.since === null) return;
    const waited = Date.now() - this.since;
    if (waited < this.ms) {
      this.arm(this.ms - waited);
      return;
    }
    this.since = null;
    this.onStall();
  }
}
