import type { Txn } from '../data/txn.js';
import type { WriteRequest, WriteWaiter } from './committer.js';

/**
 * The client requests this member handed to the consensus core, by the request id the core
 * carries in its origin: a write's txn (applied from this object once committed, not decoded
 * back from its payload) and waiter, and a sync's promise. The core answers each once
 * (applied, rejected, or done); what it never answers is failed when the member stops serving.
 */
export class PendingRequests {
  private nextId = 1;
  private readonly writes = new Map<number, { txn: Txn; waiter: WriteWaiter }>();
  private readonly syncs = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();

  get syncCount(): number {
    return this.syncs.size;
  }

  /** Stamps the write's time now; its zxid is set when committed. */
  addWrite(request: WriteRequest, waiter: WriteWaiter, now: number): { requestId: number; txn: Txn } {
    const requestId = this.nextId++;
    const txn: Txn = { zxid: 0n, time: now, sessionId: request.sessionId, cxid: request.cxid, authIds: request.authIds, op: request.op };
    this.writes.set(requestId, { txn, waiter });
    return { requestId, txn };
  }

  addSync(resolve: () => void, reject: (e: unknown) => void): number {
    const requestId = this.nextId++;
    this.syncs.set(requestId, { resolve, reject });
    return requestId;
  }

  /** The write committed as `zxid`: its txn and waiter, no longer pending (undefined if not ours or failed). */
  takeWrite(requestId: number, zxid: bigint): { txn: Txn; waiter: WriteWaiter } | undefined {
    const write = this.writes.get(requestId);
    if (write === undefined) return undefined;
    this.writes.delete(requestId);
    write.txn.zxid = zxid;
    return write;
  }

  takeSync(requestId: number): (() => void) | undefined {
    const sync = this.syncs.get(requestId);
    this.syncs.delete(requestId);
    return sync?.resolve;
  }

  reject(requestId: number, err: unknown): void {
    const write = this.writes.get(requestId);
    this.writes.delete(requestId);
    write?.waiter.lost(err);
    const sync = this.syncs.get(requestId);
    this.syncs.delete(requestId);
    sync?.reject(err);
  }

  failAll(err: unknown): void {
    const writes = [...this.writes.values()];
    const syncs = [...this.syncs.values()];
    this.writes.clear();
    this.syncs.clear();
    for (const w of writes) w.waiter.lost(err);
    for (const s of syncs) s.reject(err);
  }
}
