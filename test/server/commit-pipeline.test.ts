// The commit pipeline's last stages, the same in both modes: a txn is applied only once
// durable, strictly in zxid order, on a coming turn of loopWork and in slices; each write's
// waiter hears exactly once, from inside the slice; syncs wait for what was committed before
// them. The standalone server's one-member path (SoloCommitter) feeds it here; the consensus
// driver feeds the same ApplyStage in an ensemble (test/ensemble covers that end to end).
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/data/data-tree.js';
import type { Txn } from '../../src/data/txn.js';
import { InvariantError } from '../../src/errors.js';
import { LoopWork } from '../../src/loop-work.js';
import { EventType, OpCode } from '../../src/protocol/constants.js';
import { ApplyStage } from '../../src/server/apply-stage.js';
import { SoloCommitter, submitWrite, type SinkListener, type TxnSink, type WriteWaiter } from '../../src/server/committer.js';

/** A sink the test drives: it reports durability and failure when told to. */
class ManualSink implements TxnSink {
  readonly appended: bigint[] = [];
  private listener: SinkListener | null = null;

  listen(listener: SinkListener): void {
    this.listener = listener;
  }

  append(txn: Txn): void {
    this.appended.push(txn.zxid);
  }

  appendPayload(zxid: bigint): void {
    this.appended.push(zxid);
  }

  makeDurable(zxid: bigint): void {
    this.listener!.durable(zxid, 1);
  }

  fail(err: unknown): void {
    this.listener!.failed(err);
  }
}

/** A waiter that records what it heard, in the order heard. */
function recorder(events: string[], name: string): WriteWaiter {
  return {
    committed: (txn, result) => events.push(`${name} committed 0x${txn.zxid.toString(16)} err ${result.err}`),
    lost: (err) => events.push(`${name} lost: ${(err as Error).message}`),
  };
}

const open = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const create = (cxid: number, path = `/n${cxid}`) =>
  ({ sessionId: 0n, cxid, authIds: [], op: { type: OpCode.create, request: { path, data: Buffer.from('x'), acl: open, flags: 0 } } }) as const;

function setup(work = new LoopWork(0.5)) {
  const sink = new ManualSink();
  const fatal: string[] = [];
  const apply = new ApplyStage(new DataTree({ extendedTypesEnabled: false }), (err, what) => fatal.push(`${what}: ${(err as Error).message}`), work);
  const committer = new SoloCommitter(sink, apply, (err, what) => fatal.push(`${what}: ${(err as Error).message}`), () => 1234);
  return { sink, apply, committer, fatal };
}

/** Lets a LoopWork run its turn (armed with setImmediate before this one). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the one-member path into the apply stage', () => {
  it('stamps zxids in submission order and applies nothing before the sink says it is durable', async () => {
    const { committer, sink, apply } = setup();
    const events: string[] = [];
    for (let i = 1; i <= 3; i++) committer.submit(create(i), recorder(events, `w${i}`));
    expect(sink.appended).toEqual([1n, 2n, 3n]);
    expect(committer.undurable).toBe(3);
    expect(apply.tree.lastZxid).toBe(0n);

    sink.makeDurable(2n);
    // Applied on the loop's next turn, not inside the sink's report.
    expect(apply.queued).toBe(2);
    expect(events).toEqual([]);
    await nextTurn();
    expect(apply.tree.lastZxid).toBe(2n);
    expect(events).toEqual(['w1 committed 0x1 err 0', 'w2 committed 0x2 err 0']);
    expect(committer.undurable).toBe(1);

    sink.makeDurable(3n);
    await nextTurn();
    expect(events.at(-1)).toBe('w3 committed 0x3 err 0');
    expect(apply.tree.getNode('/n3')?.czxid).toBe(3n);
  });

  it('after a failed fsync applies what was durable, loses the rest, refuses later writes, and reports it as fatal', async () => {
    const { committer, sink, apply, fatal } = setup();
    const events: string[] = [];
    for (let i = 1; i <= 3; i++) committer.submit(create(i), recorder(events, `w${i}`));
    sink.makeDurable(1n);
    sink.fail(new Error('fsync failed'));
    expect(events).toEqual(['w2 lost: fsync failed', 'w3 lost: fsync failed']);
    expect(fatal).toEqual(['txn log write failed: fsync failed']);
    await nextTurn();
    expect(events).toEqual(['w2 lost: fsync failed', 'w3 lost: fsync failed', 'w1 committed 0x1 err 0']);
    expect(apply.tree.lastZxid).toBe(1n);

    committer.submit(create(4), recorder(events, 'w4'));
    expect(events.at(-1)).toBe('w4 lost: fsync failed');
    // A refused write takes no zxid and reaches no log.
    expect(sink.appended).toEqual([1n, 2n, 3n]);
  });

  it('leaves a long run of durable txns to later turns of the event loop, still in order', async () => {
    const { committer, sink, apply } = setup();
    const total = 100_000;
    let heard = 0;
    let outOfOrder = 0;
    const waiter: WriteWaiter = {
      committed: (txn) => {
        if (txn.zxid !== BigInt(++heard)) outOfOrder++;
      },
      lost: () => outOfOrder++,
    };
    for (let i = 1; i <= total; i++) committer.submit(create(i), waiter);
    sink.makeDurable(BigInt(total));
    // Applying 100k creates takes far longer than one turn's allowance: the first turn stops early.
    await nextTurn();
    expect(heard).toBeGreaterThan(0);
    expect(heard).toBeLessThan(total);
    const deadline = Date.now() + 30_000;
    while (heard < total && Date.now() < deadline) await nextTurn();
    expect(heard).toBe(total);
    expect(outOfOrder).toBe(0);
    expect(apply.tree.nodeCount).toBeGreaterThanOrEqual(total);
  });

  it('answers a sync only once every write stamped before it is applied', async () => {
    const { committer, sink } = setup();
    const events: string[] = [];
    committer.submit(create(1), recorder(events, 'w1'));
    const synced = committer.sync().then(() => events.push('sync'));
    committer.submit(create(2), recorder(events, 'w2'));
    await nextTurn();
    expect(events).toEqual([]);
    sink.makeDurable(2n);
    await synced;
    expect(events).toEqual(['w1 committed 0x1 err 0', 'w2 committed 0x2 err 0', 'sync']);
  });

  it('submitWrite gives a promise for the rare caller that wants one', async () => {
    const { committer, sink } = setup();
    const committed = submitWrite(committer, create(1));
    sink.makeDurable(1n);
    const { txn, result } = await committed;
    expect(txn).toMatchObject({ zxid: 1n, sessionId: 0n, cxid: 1, time: 1234 });
    expect(result.err).toBe(0);

    const lost = submitWrite(committer, create(2));
    sink.fail(new Error('disk gone'));
    await expect(lost).rejects.toThrow('disk gone');
  });
});

describe('ApplyStage', () => {
  const txn = (zxid: bigint, path: string): Txn => ({ ...create(0, path), zxid, time: 1 });

  it('refuses a txn that does not follow the last one queued', () => {
    const { apply } = setup();
    apply.enqueue(txn(5n, '/a'), null);
    expect(() => apply.enqueue(txn(5n, '/b'), null)).toThrow(InvariantError);
    expect(() => apply.enqueue(txn(4n, '/b'), null)).toThrow(/apply order/);
  });

  it('fires watches and tells the session service in apply order, and releases a queued-sync after the txns before it', async () => {
    const { apply } = setup();
    const heard: string[] = [];
    apply.reportSessionsTo({ created: (id) => heard.push(`session 0x${id.toString(16)} created`), closed: (id) => heard.push(`session 0x${id.toString(16)} closed`), reset: () => heard.push('reset') });
    apply.watches.addDataWatch('/w', { notify: (e) => heard.push(`watch ${e.path} ${e.type === EventType.NodeCreated ? 'created' : e.type}`) });
    apply.enqueue({ zxid: 1n, time: 1, sessionId: 0x77n, cxid: 0, authIds: [], op: { type: OpCode.createSession, timeout: 4000 } }, null);
    apply.enqueue(txn(2n, '/w'), null);
    apply.whenQueuedApplied(() => heard.push('sync'));
    apply.enqueue({ zxid: 3n, time: 1, sessionId: 0x77n, cxid: 1, authIds: [], op: { type: OpCode.closeSession } }, null);
    expect(heard).toEqual([]);
    await nextTurn();
    expect(heard).toEqual(['session 0x77 created', 'watch /w created', 'session 0x77 closed', 'sync']);
  });

  it('applies everything queued at once before a snapshot, and takes a new tree only when nothing is queued', () => {
    const { apply } = setup();
    apply.enqueue(txn(1n, '/a'), null);
    apply.enqueue(txn(2n, '/b'), null);
    const replacement = new DataTree({ extendedTypesEnabled: false });
    expect(() => apply.replaceTree(replacement)).toThrow(/still to apply/);
    apply.drain();
    expect(apply.tree.lastZxid).toBe(2n);
    expect(apply.queued).toBe(0);
    apply.replaceTree(replacement);
    expect(apply.tree).toBe(replacement);
  });
});
