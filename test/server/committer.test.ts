// The standalone committer's contract with its waiters: applied strictly in zxid order and
// only once durable (on a coming turn of loopWork), each waiter told exactly once, and
// nothing applied after a failed fsync.
import { describe, expect, it } from 'vitest';
import type { ApplyResult } from '../../src/data/data-tree.js';
import type { Txn } from '../../src/data/txn.js';
import { OpCode } from '../../src/protocol/constants.js';
import { StandaloneCommitter, submitWrite, type TxnSink, type WriteWaiter } from '../../src/server/committer.js';

/** A sink the test drives: it reports durability and failure when told to. */
class ManualSink implements TxnSink {
  readonly appended: bigint[] = [];
  private durable: (zxid: bigint) => void = () => undefined;
  private failed: (err: unknown) => void = () => undefined;

  listen(durable: (zxid: bigint) => void, failed: (err: unknown) => void): void {
    this.durable = durable;
    this.failed = failed;
  }

  append(txn: Txn): void {
    this.appended.push(txn.zxid);
  }

  makeDurable(zxid: bigint): void {
    this.durable(zxid);
  }

  fail(err: unknown): void {
    this.failed(err);
  }
}

/** A waiter that records what it heard, in the order heard. */
function recorder(events: string[], name: string): WriteWaiter {
  return {
    committed: (txn) => events.push(`${name} committed 0x${txn.zxid.toString(16)}`),
    lost: (err) => events.push(`${name} lost: ${(err as Error).message}`),
  };
}

function setup(startZxid = 0x100n): { committer: StandaloneCommitter; sink: ManualSink; applied: bigint[] } {
  const sink = new ManualSink();
  const applied: bigint[] = [];
  const apply = (txn: Txn): ApplyResult => {
    applied.push(txn.zxid);
    return { err: 0, changes: [] };
  };
  return { committer: new StandaloneCommitter(startZxid, sink, apply, () => 1234), sink, applied };
}

/** Lets loopWork run its turn (armed with setImmediate before this one). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const request = (cxid: number) => ({ sessionId: 0x55n, cxid, authIds: [], op: { type: OpCode.delete, request: { path: `/n${cxid}`, version: -1 } } }) as const;

describe('StandaloneCommitter', () => {
  it('stamps zxids in submission order and applies nothing before the sink says it is durable', async () => {
    const { committer, sink, applied } = setup();
    const events: string[] = [];
    for (let i = 1; i <= 3; i++) committer.submit(request(i), recorder(events, `w${i}`));
    expect(sink.appended).toEqual([0x101n, 0x102n, 0x103n]);
    expect(committer.lastZxid).toBe(0x103n);
    expect(committer.outstanding).toBe(3);
    expect(applied).toEqual([]);
    expect(events).toEqual([]);

    sink.makeDurable(0x102n);
    // Applied on the loop's next turn, not inside the sink's report.
    expect(applied).toEqual([]);
    await nextTurn();
    expect(applied).toEqual([0x101n, 0x102n]);
    expect(events).toEqual(['w1 committed 0x101', 'w2 committed 0x102']);
    expect(committer.outstanding).toBe(1);

    sink.makeDurable(0x103n);
    await nextTurn();
    expect(events).toEqual(['w1 committed 0x101', 'w2 committed 0x102', 'w3 committed 0x103']);
    expect(committer.outstanding).toBe(0);
  });

  it('after a failed fsync applies what was durable, loses the rest, and refuses later writes at once', () => {
    const { committer, sink, applied } = setup();
    const events: string[] = [];
    for (let i = 1; i <= 3; i++) committer.submit(request(i), recorder(events, `w${i}`));
    sink.makeDurable(0x101n);
    sink.fail(new Error('fsync failed'));
    expect(applied).toEqual([0x101n]);
    expect(events).toEqual(['w1 committed 0x101', 'w2 lost: fsync failed', 'w3 lost: fsync failed']);

    committer.submit(request(4), recorder(events, 'w4'));
    expect(events.at(-1)).toBe('w4 lost: fsync failed');
    // A refused write takes no zxid and reaches no log.
    expect(sink.appended).toEqual([0x101n, 0x102n, 0x103n]);
    expect(committer.lastZxid).toBe(0x103n);
  });

  it('leaves a long run of durable txns to later turns of the event loop, still in order', async () => {
    const { committer, sink, applied } = setup(0n);
    const total = 200_000;
    let heard = 0;
    let outOfOrder = 0;
    const waiter: WriteWaiter = {
      committed: (txn) => {
        if (txn.zxid !== BigInt(++heard)) outOfOrder++;
      },
      lost: () => outOfOrder++,
    };
    for (let i = 1; i <= total; i++) committer.submit(request(i), waiter);
    sink.makeDurable(BigInt(total));
    expect(applied.length).toBe(0);
    // Applying 200k txns takes far longer than one turn's allowance: the first turn stops early.
    await nextTurn();
    expect(applied.length).toBeGreaterThan(0);
    expect(applied.length).toBeLessThan(total);
    const deadline = Date.now() + 30_000;
    while (heard < total && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(heard).toBe(total);
    expect(outOfOrder).toBe(0);
  });

  it('submitWrite gives a promise for the rare caller that wants one', async () => {
    const { committer, sink } = setup();
    const committed = submitWrite(committer, request(1));
    sink.makeDurable(0x101n);
    const { txn, result } = await committed;
    expect(txn).toMatchObject({ zxid: 0x101n, sessionId: 0x55n, cxid: 1, time: 1234 });
    expect(result.err).toBe(0);

    const lost = submitWrite(committer, request(2));
    sink.fail(new Error('disk gone'));
    await expect(lost).rejects.toThrow('disk gone');
  });
});
