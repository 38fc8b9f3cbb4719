/** A connection that stopped reading because the server holds as many requests as it may. */
export interface ThrottledReader {
  /** The server is below its limit again: read on. */
  unthrottled(): void;
}

/**
 * ZooKeeper's globalOutstandingLimit: the requests this server holds (read from a client and
 * not yet answered, on every connection together). At the limit, connections stop reading
 * (the kernel's socket buffers and then TCP hold the rest back); below it they read on.
 * Connections park themselves here when they find the limit reached and are woken in the
 * order they parked, as long as the count stays below the limit.
 */
export class OutstandingLimit {
  private held = 0;
  private readonly parked = new Set<ThrottledReader>();
  private wakeScheduled = false;

  constructor(readonly limit: number) {}

  /** Requests held now (read, not yet answered). */
  get count(): number {
    return this.held;
  }

  get reached(): boolean {
    return this.held >= this.limit;
  }

  /** Connections waiting for the count to fall. */
  get waiting(): number {
    return this.parked.size;
  }

  take(): void {
    this.held++;
  }

  give(count = 1): void {
    this.held -= count;
    if (this.held < this.limit && this.parked.size > 0 && !this.wakeScheduled) {
      // Once per batch of replies, not per reply: the apply stage answers many in one slice.
      this.wakeScheduled = true;
      process.nextTick(this.wake);
    }
  }

  park(reader: ThrottledReader): void {
    this.parked.add(reader);
  }

  unpark(reader: ThrottledReader): void {
    this.parked.delete(reader);
  }

  private readonly wake = (): void => {
    this.wakeScheduled = false;
    for (const reader of this.parked) {
      if (this.reached) return;
      this.parked.delete(reader);
      reader.unthrottled();
    }
  };
}
