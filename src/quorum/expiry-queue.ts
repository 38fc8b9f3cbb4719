/**
 * Keys grouped into buckets of `bucketTicks`: a key's deadline is the first multiple of the
 * bucket strictly after (now + timeout), so one pass per bucket expires a whole group.
 * Pure: the caller passes the time in ticks.
 */
export class ExpiryQueue<K> {
  private readonly deadlineOf = new Map<K, number>();
  /** Non-empty buckets only, by deadline. */
  private readonly buckets = new Map<number, Set<K>>();

  constructor(private readonly bucketTicks: number) {}

  /** Moves key to the bucket of now + timeoutTicks. */
  touch(key: K, timeoutTicks: number, now: number): void {
    const deadline = (Math.floor((now + timeoutTicks) / this.bucketTicks) + 1) * this.bucketTicks;
    const old = this.deadlineOf.get(key);
    if (old === deadline) return;
    if (old !== undefined) this.leave(key, old);
    this.deadlineOf.set(key, deadline);
    let bucket = this.buckets.get(deadline);
    if (bucket === undefined) this.buckets.set(deadline, (bucket = new Set()));
    bucket.add(key);
  }

  remove(key: K): void {
    const old = this.deadlineOf.get(key);
    if (old === undefined) return;
    this.deadlineOf.delete(key);
    this.leave(key, old);
  }

  clear(): void {
    this.deadlineOf.clear();
    this.buckets.clear();
  }

  /** The earliest deadline of any key, or +Infinity when empty. */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const deadline of this.buckets.keys()) if (deadline < next) next = deadline;
    return next;
  }

  /** Removes and returns every key whose deadline is now or earlier. */
  expire(now: number): K[] {
    const out: K[] = [];
    for (const [deadline, bucket] of this.buckets) {
      if (deadline > now) continue;
      for (const key of bucket) {
        out.push(key);
        this.deadlineOf.delete(key);
      }
      this.buckets.delete(deadline);
    }
    return out;
  }

  private leave(key: K, deadline: number): void {
    const bucket = this.buckets.get(deadline);
    if (bucket === undefined) return;
    bucket.delete(key);
    if (bucket.size === 0) this.buckets.delete(deadline);
  }
}
