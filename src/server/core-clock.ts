/** Ticks delivered at once after a pause; more than any limit in ticks, so every timeout fires. */
const catchUpTicksMax = 100_000;

/** What the clock asks the core: in how many ticks it next has something to do (Infinity: none). */
export interface TickDemand {
  ticksUntilDue(): number;
}

/**
 * The consensus core's clock in wall time: counts the core intervals that have elapsed, and
 * sleeps until the first tick at which the core has something to do, then calls `onDue`.
 */
export class CoreClock {
  /** When the next core tick falls due (0: the clock has not started). */
  private nextTickDue = 0;
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires. */
  private timerAt = 0;
  private stopped = false;

  constructor(
    private readonly tickMs: number,
    private readonly core: TickDemand,
    private readonly onDue: () => void,
  ) {}

  start(): void {
    this.nextTickDue = Date.now() + this.tickMs;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }

  /** How many core intervals have elapsed since the last call (0 before start), capped at catchUpTicksMax. */
  takeElapsedTicks(): number {
    if (this.nextTickDue === 0) return 0; // not begun: the clock starts with the election
    const now = Date.now();
    if (this.nextTickDue > now) return 0;
    let ticks = 0;
    while (this.nextTickDue <= now && ticks < catchUpTicksMax) {
      this.nextTickDue += this.tickMs;
      ticks++;
    }
    if (this.nextTickDue <= now) this.nextTickDue = now + this.tickMs;
    return ticks;
  }

  /**
   * Arms the timer for the first tick at which the core has something to do; the idle ticks
   * before it go in with it (or with the next event, whichever comes first). An idle member
   * thus wakes for its PINGs and deadlines, not every core interval. Unref'd: the member's
   * sockets, not its clock, keep the process alive.
   */
  arm(): void {
    if (this.stopped || this.nextTickDue === 0) return;
    const due = this.core.ticksUntilDue();
    const at = Number.isFinite(due) ? this.nextTickDue + (due - 1) * this.tickMs : Number.POSITIVE_INFINITY;
    if (this.timer !== null) {
      if (this.timerAt <= at) return; // armed early enough: it re-arms when it fires
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (at === Number.POSITIVE_INFINITY) return;
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onDue();
      this.arm();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }
}
