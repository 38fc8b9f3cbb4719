/**
 * Deferrable work shares one allowance per turn of the event loop.
 *
 * A server under a saturating write load has several producers of long runs of work: the
 * apply stage's committed txns (and the replies they release), a pipelining client's backlog
 * of request frames, a snapshot's records to encode. Slices run back to back in one turn
 * would keep a read that arrived just after the poll waiting for all of them; here they run
 * from one setImmediate callback, in turn, until the turn's allowance is spent, and then the
 * loop polls again, so a request from an interactive client waits for at most about one
 * allowance (docs/performance.md has the measurements).
 *
 * One scheduler per thread (the event loop is per thread): `loopWork`.
 */

/** A producer of work that can stop at a deadline and continue later. */
export interface SlicedWork {
  /**
   * Does work until about `deadline` (a performance.now() value; it may overrun by one unit
   * of its work). True when some is left: it is run again on a later turn.
   */
  runSlice(deadline: number): boolean;
  /**
   * Runs first in every turn it waits for: work that completes requests (the apply stage,
   * which releases replies) before work that admits more (a pipelining client's backlog).
   */
  readonly runsFirst?: boolean;
}

/** What a sliced task that throws is reported to (it is not run again unless rescheduled). */
export type WorkFailure = (err: unknown, work: SlicedWork) => void;

export class LoopWork {
  private readonly queue: SlicedWork[] = [];
  private readonly queued = new Set<SlicedWork>();
  private readonly asyncWaiters: (() => void)[] = [];
  private armed = false;
  private sliceDeadline = 0;
  /** Whether a turn's sync work is running now. */
  private turning = false;
  /** Output waiting for the turn's work to run out (afterWork), and for how many turns it has. */
  private deferred: (() => void)[] = [];
  private deferredTurns = 0;
  /** The next turn gets a short allowance (shortenNextTurn). */
  private shortTurn = false;

  constructor(
    /** The allowance for one turn of the loop, in ms. */
    readonly turnMs: number,
    private readonly onFailure: WorkFailure = (err) => {
      queueMicrotask(() => {
        throw err;
      });
    },
  ) {}

  /** Runs `work` on a coming turn (once, however often it is scheduled before then). */
  schedule(work: SlicedWork): void {
    if (this.queued.has(work)) return;
    this.queued.add(work);
    if (work.runsFirst === true) this.queue.unshift(work);
    else this.queue.push(work);
    this.arm();
  }

  /** Whether `work` waits for a turn. */
  isScheduled(work: SlicedWork): boolean {
    return this.queued.has(work);
  }

  /**
   * For async producers: resolves when they may run, as the last work of a turn; they should
   * call `slice()` again once `sliceOver()`.
   */
  slice(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.asyncWaiters.push(resolve);
      this.arm();
    });
  }

  /** Whether the slice last granted through `slice()` has run out. */
  sliceOver(): boolean {
    return performance.now() >= this.sliceDeadline;
  }

  /** Whether a turn's sync work is running (this callback is inside one). */
  get inTurn(): boolean {
    return this.turning;
  }

  /**
   * Runs `fn` once the sync work queued now has run out, or after `deferTurnsMax` turns,
   * whichever is first; outside a turn, on the next tick. For output that is cheaper sent in
   * one go (a pipelining client's replies).
   */
  afterWork(fn: () => void): void {
    if (!this.turning) {
      process.nextTick(fn);
      return;
    }
    this.deferred.push(fn);
  }

  /** Work waiting for a turn (sliced and async). */
  get pending(): number {
    return this.queue.length + this.asyncWaiters.length;
  }

  /** Tasks a turn had no time for wait at the head of the queue, behind work that runs first. */
  private putBack(batch: SlicedWork[], from: number): void {
    let firsts = 0;
    while (firsts < this.queue.length && this.queue[firsts]!.runsFirst === true) firsts++;
    this.queue.splice(firsts, 0, ...batch.slice(from));
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(this.turn);
  }

  /**
   * Asks for a short next turn: an interactive client (one request at a time) just had its
   * reply, and its next request is on the way; a full turn started now would keep it waiting
   * for most of the allowance (the loop polls only between turns).
   */
  shortenNextTurn(): void {
    this.shortTurn = true;
  }

  private readonly turn = (): void => {
    this.armed = false;
    const started = performance.now();
    const turnMs = this.shortTurn ? this.turnMs * shortTurnShare : this.turnMs;
    this.shortTurn = false;
    const deadline = started + turnMs;
    // An async producer waiting takes an equal share of the turn, after the others.
    const batch = this.queue.splice(0);
    const asyncShare = this.asyncWaiters.length > 0 ? turnMs / (batch.length + 1) : 0;
    const syncDeadline = deadline - asyncShare;
    // Each waiting task at most once a turn, in order; those left over go first next turn
    // (after work that runs first).
    this.turning = true;
    let ran = 0;
    while (ran < batch.length) {
      const work = batch[ran++]!;
      this.queued.delete(work);
      let more = false;
      try {
        more = work.runSlice(syncDeadline);
      } catch (err) {
        this.onFailure(err, work);
      }
      if (more) this.schedule(work);
      if (performance.now() >= syncDeadline) break;
    }
    if (ran < batch.length) this.putBack(batch, ran);
    this.turning = false;
    if (this.deferred.length > 0 && (this.queue.length === 0 || ++this.deferredTurns >= deferTurnsMax)) {
      const due = this.deferred;
      this.deferred = [];
      this.deferredTurns = 0;
      for (const fn of due) {
        try {
          fn();
        } catch (err) {
          this.onFailure(err, { runSlice: () => false });
        }
      }
    }
    // An async producer runs in the microtasks right after this callback, so it comes last;
    // it gets what is left of the turn, at least its share.
    const resolve = this.asyncWaiters.shift();
    if (resolve !== undefined) {
      this.sliceDeadline = Math.max(deadline, performance.now() + asyncShare);
      resolve();
    }
    if (this.queue.length > 0 || this.asyncWaiters.length > 0) this.arm();
  };
}

/** Output deferred with afterWork waits for at most this many turns. */
const deferTurnsMax = 4;

/** A turn shortened by shortenNextTurn gets this share of the allowance. */
const shortTurnShare = 0.3;

/**
 * Half a millisecond a turn: long enough that a saturating load runs at the rate separate
 * slices gave it (a turn costs one more non-blocking poll), short enough that an interactive
 * read waits little (README, Performance).
 */
export const loopTurnMs = 0.5;

/** This thread's scheduler for deferrable work. */
export const loopWork = new LoopWork(loopTurnMs);
