/**
 * Sessions grouped into buckets of one tick: a session's deadline is the first multiple of
 * the tick strictly after (now + timeout), so one timer per tick expires whole buckets.
 * Pure: the caller passes the time in.
 */
export class ExpiryQueue<K> {
  private readonly deadlineOf = new Map<K, number>();
  private readonly buckets = new Map<number, Set<K>>();
  private nextDeadline: number;

  constructor(private readonly tickMs: number, nowMs: number) {
    this.nextDeadline = this.roundUp(nowMs);
  }

  private roundUp(t: number): number {
    return (Math.floor(t / this.tickMs) + 1) * this.tickMs;
  }

  /** Moves key to the bucket of now + timeoutMs. */
  touch(key: K, timeoutMs: number, nowMs: number): void {
    const deadline = this.roundUp(nowMs + timeoutMs);
    const old = this.deadlineOf.get(key);
    if (old === deadline) return;
    if (old !== undefined) this.buckets.get(old)?.delete(key);
    this.deadlineOf.set(key, deadline);
    let bucket = this.buckets.get(deadline);
    if (bucket === undefined) this.buckets.set(deadline, (bucket = new Set()));
    bucket.add(key);
  }

  remove(key: K): void {
    const old = this.deadlineOf.get(key);
    if (old === undefined) return;
    this.deadlineOf.delete(key);
    this.buckets.get(old)?.delete(key);
  }

  has(key: K): boolean {
    return this.deadlineOf.has(key);
  }

  /** Removes and returns every key whose deadline has passed. */
  expire(nowMs: number): K[] {
    const out: K[] = [];
    while (this.nextDeadline <= nowMs) {
      const bucket = this.buckets.get(this.nextDeadline);
      if (bucket !== undefined) {
        for (const key of bucket) {
          out.push(key);
          this.deadlineOf.delete(key);
        }
        this.buckets.delete(this.nextDeadline);
      }
      this.nextDeadline += this.tickMs;
    }
    return out;
  }

  get size(): number {
    return this.deadlineOf.size;
  }
}
