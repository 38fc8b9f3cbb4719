import type { OutstandingLimit } from './outstanding-limit.js';

/** What a request turns into: a reply frame now, or later, and whether to close after it. */
export interface Outcome {
  frame: Buffer | null;
  close?: string;
}

/** Where a job that finishes later reports its outcome; a second report is ignored. */
export interface Completion {
  finish(outcome: Outcome): void;
}

export interface Job {
  /** Writes may start while earlier requests are pending; reads wait for everything before them. */
  write: boolean;
  /**
   * The outcome now, or null when it comes later through `done` (which may also be called
   * before start returns). A callback, not a promise: a write at tens of thousands a second
   * costs no promise, and its reply is built in the apply stage's slice, not after it.
   */
  start(done: Completion): Outcome | null;
}

/** The connection side of a request queue: where replies go, in request order. */
export interface ReplyOutlet {
  readonly isOpen: boolean;
  /** Sends one reply; false when the connection closed on it (the round stops). */
  send(outcome: Outcome, receivedAt: number): boolean;
  /** A round of replies ended: read on if there is room, send what is corked. */
  sent(): void;
  /** A job threw when started (bad input or a bug): the connection closes. */
  failed(err: unknown): void;
}

/** A request in the queue; the Completion its job reports to. */
class Entry implements Completion {
  started = false;
  /** Started, and its outcome not yet reported. */
  waiting = false;
  outcome: Outcome | null = null;
  readonly receivedAt = Date.now();

  constructor(
    readonly queue: RequestQueue,
    readonly job: Job,
  ) {}

  finish(outcome: Outcome): void {
    this.queue.settle(this, outcome);
  }
}

/**
 * One connection's requests, in the order read: writes start as they arrive, a read starts
 * once everything before it has its outcome, and replies leave strictly in order. Every
 * request held here counts against the server's globalOutstandingLimit until it is answered.
 */
export class RequestQueue {
  private entries: Entry[] = [];
  /** Entries at the head of the queue that have started. */
  private startedCount = 0;
  /** Started entries still waiting for their outcome. */
  private inProgress = 0;
  private pumping = false;
  private pumpAgain = false;

  constructor(
    private readonly outlet: ReplyOutlet,
    private readonly limit: OutstandingLimit,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  push(job: Job): void {
    this.entries.push(new Entry(this, job));
    this.limit.take();
    this.pump();
  }

  /** The connection closed: what is held is dropped and no longer counts. */
  clear(): void {
    this.limit.give(this.entries.length);
    this.entries = [];
    this.startedCount = 0;
    this.inProgress = 0;
  }

  /** A job's later outcome (Entry.finish). */
  settle(entry: Entry, outcome: Outcome): void {
    if (!this.outlet.isOpen || entry.outcome !== null) return;
    entry.outcome = outcome;
    if (!entry.waiting) return; // reported inside start: the pump that started it sends it
    entry.waiting = false;
    this.inProgress--;
    // Called from the apply stage's slice: whatever goes wrong with this connection's
    // replies closes this connection, and the slice goes on to the next txn.
    try {
      this.pump();
    } catch (err) {
      this.outlet.failed(err);
    }
  }

  /**
   * Starts what may start, then sends every finished reply at the head, in order. Started
   * entries are always a prefix of the queue (a read that must wait stops the loop), so this
   * looks only at the entries after it: a full queue of writes costs O(1) per completion.
   */
  private pump(): void {
    // A job may finish while another starts (a sink that reports at once): its report asks
    // for another round instead of running one inside this one.
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.startedCount < this.entries.length) {
          const entry = this.entries[this.startedCount]!;
          if (!entry.job.write && this.inProgress > 0) break;
          this.startedCount++;
          this.start(entry);
          if (!this.outlet.isOpen) return;
        }
        this.flush();
      } while (this.pumpAgain && this.outlet.isOpen);
    } finally {
      this.pumping = false;
    }
  }

  private start(entry: Entry): void {
    entry.started = true;
    let result: Outcome | null;
    try {
      result = entry.job.start(entry);
    } catch (err) {
      this.outlet.failed(err);
      return;
    }
    if (result !== null) {
      entry.outcome ??= result;
    } else if (entry.outcome === null) {
      entry.waiting = true;
      this.inProgress++;
    }
  }

  private flush(): void {
    if (!this.outlet.isOpen) return;
    while (this.entries.length > 0 && this.entries[0]!.outcome !== null) {
      const entry = this.entries.shift()!;
      this.startedCount--;
      this.limit.give();
      if (!this.outlet.send(entry.outcome!, entry.receivedAt)) return;
    }
    this.outlet.sent();
    // A read queued behind a write that just finished may start now.
    if (this.entries.length > 0 && this.startedCount === 0) this.pumpAgain = true;
  }
}
