import { invariant } from '../errors.js';
import type { ApplyResult } from '../data/data-tree.js';
import type { Txn, TxnOp } from '../data/txn.js';
import type { Id } from '../protocol/records.js';

/** A write as a connection hands it over, before it has a zxid. */
export interface WriteRequest {
  sessionId: bigint;
  cxid: number;
  authIds: Id[];
  op: TxnOp;
}

export interface Committed {
  txn: Txn;
  result: ApplyResult;
}

/**
 * Where writes go to be ordered, made durable and applied. Standalone: this server stamps,
 * logs and applies. In an ensemble: the leader stamps and proposes, and every server applies
 * on commit; a follower's committer forwards. Either way, the promise settles once the txn
 * is applied on this server, so the connection can reply in its session's order.
 */
export interface Committer {
  submit(request: WriteRequest): Promise<Committed>;
  /** Highest zxid handed out (standalone) or known committed. */
  readonly lastZxid: bigint;
  /** Writes accepted but not yet applied here. */
  readonly outstanding: number;
}

/** Makes txns durable; resolves once the txn with this zxid (and all before it) is on disk. */
export interface TxnSink {
  append(txn: Txn): Promise<void>;
}

/** Applies committed txns, in zxid order, to the database. */
export type ApplyFn = (txn: Txn) => ApplyResult;

interface Waiting {
  txn: Txn;
  resolve: (c: Committed) => void;
  reject: (err: unknown) => void;
}

/**
 * The standalone committer: prep (stamp zxid and time), persist through the sink (group
 * commit batches them), then apply strictly in zxid order and settle each waiter.
 */
export class StandaloneCommitter implements Committer {
  private nextCounter: bigint;
  private readonly waiting: Waiting[] = [];
  private durableZxid: bigint;

  constructor(
    startZxid: bigint,
    private readonly sink: TxnSink,
    private readonly apply: ApplyFn,
    private readonly now: () => number = Date.now,
  ) {
    this.nextCounter = startZxid;
    this.durableZxid = startZxid;
  }

  get lastZxid(): bigint {
    return this.nextCounter;
  }

  get outstanding(): number {
    return this.waiting.length;
  }

  submit(request: WriteRequest): Promise<Committed> {
    const txn: Txn = { ...request, zxid: ++this.nextCounter, time: this.now() };
    return new Promise<Committed>((resolve, reject) => {
      this.waiting.push({ txn, resolve, reject });
      this.sink.append(txn).then(
        () => this.onDurable(txn.zxid),
        (err) => this.failAll(err),
      );
    });
  }

  private onDurable(zxid: bigint): void {
    if (zxid > this.durableZxid) this.durableZxid = zxid;
    while (this.waiting.length > 0 && this.waiting[0]!.txn.zxid <= this.durableZxid) {
      const w = this.waiting.shift()!;
      invariant(w.txn.zxid <= this.durableZxid, 'applying a txn that is not durable');
      w.resolve({ txn: w.txn, result: this.apply(w.txn) });
    }
  }

  private failAll(err: unknown): void {
    // A failed fsync leaves us unable to promise durability: nothing more is applied.
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}
