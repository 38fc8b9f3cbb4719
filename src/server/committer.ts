import type { ApplyResult } from '../data/tree-ops.js';
import type { Txn, TxnOp } from '../data/txn.js';
import { OpCode } from '../protocol/constants.js';
import type { Id } from '../protocol/records.js';
import type { SessionWriter } from '../session/session-service.js';
import type { ApplyStage } from './apply-stage.js';

/** A write as a connection hands it over, before it has a zxid. */
export interface WriteRequest {
  sessionId: bigint;
  cxid: number;
  authIds: readonly Id[];
  op: TxnOp;
}

export interface Committed {
  txn: Txn;
  result: ApplyResult;
}

/**
 * Hears how one write ended: applied on this server (in zxid order, called synchronously from
 * the apply stage's slice, so the reply is built there and its cost counts against the
 * slice), or lost (its fate is unknown to this server: a failed fsync, a lost leader).
 * Exactly one is called.
 */
export interface WriteWaiter {
  committed(txn: Txn, result: ApplyResult): void;
  lost(err: unknown): void;
}

/**
 * Where writes go to be ordered and made durable: the one-member path of a standalone server
 * (`SoloCommitter`) or the consensus driver of an ensemble member. Either way a committed txn
 * goes through the same apply stage, and its waiter hears once it is applied here, so the
 * connection replies in its session's order. No promise per write.
 */
export interface Committer {
  submit(request: WriteRequest, waiter: WriteWaiter): void;
  /** Resolves once this server has applied every write committed before the call. */
  sync(): Promise<void>;
}

/** submit for the rare caller that wants a promise (session creation and expiry, containers). */
export function submitWrite(committer: Committer, request: WriteRequest): Promise<Committed> {
  return new Promise<Committed>((resolve, reject) => {
    committer.submit(request, { committed: (txn, result) => resolve({ txn, result }), lost: reject });
  });
}

/** Reports from a sink: the highest zxid now durable (with how many txns that batch held), or its failure. */
export interface SinkListener {
  durable(zxid: bigint, count: number): void;
  failed(err: unknown): void;
}

/**
 * Makes txns durable, in the order appended, with group commit. No promise per txn: the
 * sink reports, a batch at a time, the highest zxid now on disk (every txn appended before
 * it is too), or that it failed, after which nothing more becomes durable.
 */
export interface TxnSink {
  /** Registers the listener; called once, before the first append. */
  listen(listener: SinkListener): void;
  /** Appends a txn this server stamped (encoded into the log's buffer). */
  append(txn: Txn): void;
  /** Appends a txn already encoded (a proposal's payload). */
  appendPayload(zxid: bigint, payload: Uint8Array): void;
}

/** A sink that keeps nothing: each txn is "durable" on the next microtask (tests, in-memory servers). */
export function volatileSink(): TxnSink {
  let listener: SinkListener | null = null;
  const report = (zxid: bigint) => queueMicrotask(() => listener?.durable(zxid, 1));
  return {
    listen: (l) => {
      listener = l;
    },
    append: (txn) => report(txn.zxid),
    appendPayload: (zxid) => report(zxid),
  };
}

/** A failure this server cannot go on from (a failed fsync, a broken invariant): the composition root exits. */
export type FatalHandler = (err: unknown, what: string) => void;

/**
 * The standalone server's path to the apply stage, a quorum of one: stamp the zxid and time,
 * persist through the sink (group commit), and hand each txn to the apply stage once the
 * sink reports it durable.
 */
export class SoloCommitter implements Committer, SinkListener {
  private lastZxid: bigint;
  /** Stamped and appended, not yet durable, in zxid order from `head` on (two arrays, no object per txn). */
  private txns: Txn[] = [];
  private waiters: WriteWaiter[] = [];
  private head = 0;
  private failure: unknown = null;

  constructor(
    private readonly sink: TxnSink,
    private readonly apply: ApplyStage,
    private readonly onFatal: FatalHandler,
    private readonly now: () => number = Date.now,
  ) {
    this.lastZxid = apply.tree.lastZxid;
    sink.listen(this);
  }

  /** Writes appended and not yet durable. */
  get undurable(): number {
    return this.txns.length - this.head;
  }

  submit(request: WriteRequest, waiter: WriteWaiter): void {
    if (this.failure !== null) {
      waiter.lost(this.failure);
      return;
    }
    const txn: Txn = { sessionId: request.sessionId, cxid: request.cxid, zxid: ++this.lastZxid, time: this.now(), authIds: request.authIds, op: request.op };
    this.txns.push(txn);
    this.waiters.push(waiter);
    this.sink.append(txn);
  }

  sync(): Promise<void> {
    return new Promise((resolve) => this.apply.whenApplied(this.lastZxid, resolve));
  }

  durable(zxid: bigint): void {
    const { txns, waiters } = this;
    let i = this.head;
    while (i < txns.length && txns[i]!.zxid <= zxid) {
      this.apply.enqueue(txns[i]!, waiters[i]!);
      txns[i] = undefined as unknown as Txn;
      waiters[i++] = undefined as unknown as WriteWaiter;
    }
    if (i === txns.length) {
      txns.length = 0;
      waiters.length = 0;
      this.head = 0;
    } else if (i > 1024 && i * 2 >= txns.length) {
      this.txns = txns.slice(i);
      this.waiters = waiters.slice(i);
      this.head = 0;
    } else {
      this.head = i;
    }
  }

  /** What is durable is still applied; after a failed fsync nothing more is, and the server stops. */
  failed(err: unknown): void {
    this.failure = err;
    const lost = this.waiters.slice(this.head);
    this.txns = [];
    this.waiters = [];
    this.head = 0;
    for (const waiter of lost) waiter.lost(err);
    this.onFatal(err, 'txn log write failed');
  }
}

/** Sessions are created and closed as writes, through the same pipeline as every other. */
export function sessionWriter(committer: Committer): SessionWriter {
  const write = (sessionId: bigint, op: TxnOp) => submitWrite(committer, { sessionId, cxid: 0, authIds: [], op }).then(() => undefined);
  return {
    createSession: (sessionId, timeout) => write(sessionId, { type: OpCode.createSession, timeout }),
    closeSession: (sessionId) => write(sessionId, { type: OpCode.closeSession }),
  };
}
