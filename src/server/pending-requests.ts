import type { WriteWaiter } from './committer.js';

/**
 * The client requests this member handed to the consensus core, by the request id the core
 * carries in its origin: a write's waiter and a sync's promise. The core answers each once
 * (applied, rejected, or done); what it never answers is failed when the member stops serving.
 */
export class PendingRequests {
  private nextId = 1;
  private readonly writes = new Map<number, WriteWaiter>();
  private readonly syncs = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();

  get syncCount(): number {
    return this.syncs.size;
  }

  addWrite(waiter: WriteWaiter): number {
    const requestId = this.nextId++;
    this.writes.set(requestId, waiter);
    return requestId;
  }

  addSync(resolve: () => void, reject: (e: unknown) => void): number {
    const requestId = this.nextId++;
    this.syncs.set(requestId, { resolve, reject });
    return requestId;
  }

  /** The write committed: its waiter, no longer pending (undefined when it was failed already). */
  takeWrite(requestId: number): WriteWaiter | undefined {
    const waiter = this.writes.get(requestId);
    this.writes.delete(requestId);
    return waiter;
  }

  takeSync(requestId: number): (() => void) | undefined {
    const sync = this.syncs.get(requestId);
    this.syncs.delete(requestId);
    return sync?.resolve;
  }

  reject(requestId: number, err: unknown): void {
    const waiter = this.writes.get(requestId);
    this.writes.delete(requestId);
    waiter?.lost(err);
    const sync = this.syncs.get(requestId);
    this.syncs.delete(requestId);
    sync?.reject(err);
  }

  failAll(err: unknown): void {
    const writes = [...this.writes.values()];
    const syncs = [...this.syncs.values()];
    this.writes.clear();
    this.syncs.clear();
    for (const waiter of writes) waiter.lost(err);
    for (const s of syncs) s.reject(err);
  }
}
