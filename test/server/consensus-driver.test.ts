// The consensus driver around a real core (a one-voter ensemble, so it leads alone): barrier
// effects are awaited before anything after them, a client write goes through the txn sink's
// durable report and the apply stage with its waiter, a sync waits for what was committed
// before it, and a failed barrier stops the driver and is reported as fatal.
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/config.js';
import { DataTree } from '../../src/data/data-tree.js';
import type { Txn } from '../../src/data/txn.js';
import { silentLogger } from '../../src/logger.js';
import { LoopWork } from '../../src/loop-work.js';
import { OpCode } from '../../src/protocol/constants.js';
import { ApplyStage } from '../../src/server/apply-stage.js';
import type { SinkListener, TxnSink, WriteRequest, WriteWaiter } from '../../src/server/committer.js';
import { ConsensusDriver } from '../../src/server/consensus-driver.js';
import { memberCore } from '../../src/server/member-config.js';
import type { MemberStorage } from '../../src/server/persistence.js';
import { waitFor } from '../support/net.js';

/** A gate the test opens (or fails) for one barrier. */
interface Gate {
  readonly what: string;
  open(): void;
  fail(err: Error): void;
}

/**
 * A member's disk as the driver sees it, in memory: every operation is recorded in order,
 * appends become durable when the test says, and barriers wait for the test to open them.
 */
class HeldStorage implements MemberStorage, TxnSink {
  readonly operations: string[] = [];
  readonly gates: Gate[] = [];
  private listener: SinkListener | null = null;
  private lastAppended = 0n;

  get sink(): TxnSink {
    return this;
  }

  listen(listener: SinkListener): void {
    this.listener = listener;
  }

  append(txn: Txn): void {
    this.appendPayload(txn.zxid);
  }

  appendPayload(zxid: bigint): void {
    this.operations.push(`append 0x${zxid.toString(16)}`);
    this.lastAppended = zxid;
  }

  /** Reports everything appended so far durable. */
  makeDurable(): void {
    this.operations.push(`durable 0x${this.lastAppended.toString(16)}`);
    this.listener!.durable(this.lastAppended, 1);
  }

  private barrier(what: string): Promise<void> {
    this.operations.push(`${what} started`);
    return new Promise<void>((resolve, reject) => {
      this.gates.push({
        what,
        open: () => {
          this.operations.push(`${what} done`);
          resolve();
        },
        fail: reject,
      });
    });
  }

  truncateAfter(zxid: bigint): Promise<void> {
    return this.barrier(`truncate 0x${zxid.toString(16)}`);
  }
  persistAcceptedEpoch(epoch: bigint): Promise<void> {
    return this.barrier(`acceptedEpoch ${epoch}`);
  }
  persistCurrentEpoch(epoch: bigint): Promise<void> {
    return this.barrier(`currentEpoch ${epoch}`);
  }
  installSnapshot(zxid: bigint): Promise<void> {
    return this.barrier(`snapshot 0x${zxid.toString(16)}`);
  }
  async close(): Promise<void> {}

  /** The gate of the barrier now waiting (the driver runs one at a time). */
  async nextGate(what: string): Promise<Gate> {
    return waitFor(`the ${what} barrier`, () => this.gates.find((g) => g.what === what));
  }
}

function member() {
  const { config } = buildConfig(new Map([['tickTime', '100'], ['dataDir', '/tmp/zkts-unused'], ['clientPort', '0'], ['server.1', '127.0.0.1:0:0']]), null);
  const storage = new HeldStorage();
  const fatal: string[] = [];
  const apply = new ApplyStage(new DataTree({ extendedTypesEnabled: false }), (err, what) => fatal.push(`${what}: ${(err as Error).message}`), new LoopWork(0.5));
  const recovery = { acceptedEpoch: 0n, currentEpoch: 0n, tree: apply.tree, log: [] };
  const roles: string[] = [];
  const driver = new ConsensusDriver({
    config,
    serverId: 1,
    core: memberCore(config, 1, recovery),
    storage,
    apply,
    log: silentLogger(),
    onFatal: (err, what) => fatal.push(`${what}: ${(err as Error).message}`),
  });
  driver.watchRole((role, _leader, serving) => {
    roles.push(`${role}${serving ? ' serving' : ''}`);
    storage.operations.push(`role ${role}${serving ? ' serving' : ''}`);
  });
  return { driver, storage, apply, fatal, roles };
}

/** Brings a lone member up to a serving leader, opening its epoch barriers. */
async function lead(m: ReturnType<typeof member>): Promise<void> {
  await m.driver.bind();
  m.driver.begin();
  (await m.storage.nextGate('acceptedEpoch 1')).open();
  (await m.storage.nextGate('currentEpoch 1')).open();
  await waitFor('the member to serve', () => m.driver.serving);
}

const create = (cxid: number): WriteRequest => ({ sessionId: 0n, cxid, authIds: [], op: { type: OpCode.create, request: { path: `/n${cxid}`, data: null, acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 } } });

describe('ConsensusDriver', () => {
  let running: ConsensusDriver | null = null;
  afterEach(async () => {
    await running?.stop();
    running = null;
  });

  it('carries out nothing after a barrier until the barrier is done', async () => {
    const m = member();
    running = m.driver;
    await m.driver.bind();
    m.driver.begin();
    const accepted = await m.storage.nextGate('acceptedEpoch 1');
    // While the epoch is being persisted, later effects and events wait: no currentEpoch and
    // no serving role (the role was announced, not yet ready, before the barrier).
    expect(m.storage.operations).toEqual(['role leading', 'acceptedEpoch 1 started']);
    expect(m.driver.serving).toBe(false);
    accepted.open();
    const current = await m.storage.nextGate('currentEpoch 1');
    expect(m.driver.serving).toBe(false);
    current.open();
    await waitFor('the member to serve', () => m.driver.serving);
    const ops = m.storage.operations;
    expect(ops.indexOf('acceptedEpoch 1 done')).toBeLessThan(ops.indexOf('currentEpoch 1 started'));
    expect(ops.indexOf('currentEpoch 1 done')).toBeLessThan(ops.indexOf('role leading serving'));
    expect(m.roles).toEqual(['leading', 'leading serving']);
  });

  it('applies a client write only once the sink reports it durable, and its waiter hears from the apply stage', async () => {
    const m = member();
    running = m.driver;
    await lead(m);
    const heard: string[] = [];
    const waiter: WriteWaiter = { committed: (txn, result) => heard.push(`0x${txn.zxid.toString(16)} err ${result.err}`), lost: (err) => heard.push(`lost ${(err as Error).message}`) };
    m.driver.submit(create(1), waiter);
    m.driver.submit(create(2), waiter);
    await waitFor('the writes to be appended', () => m.storage.operations.includes('append 0x100000002'));
    const synced = m.driver.sync().then(() => heard.push('sync'));
    expect(heard).toEqual([]);
    expect(m.apply.tree.getNode('/n1')).toBeUndefined();
    m.storage.makeDurable();
    await synced;
    expect(heard).toEqual(['0x100000001 err 0', '0x100000002 err 0', 'sync']);
    expect(m.apply.tree.getNode('/n2')?.czxid).toBe(0x100000002n);
  });

  it('loses a write it is not serving for, at once', async () => {
    const m = member();
    running = m.driver;
    const heard: string[] = [];
    m.driver.submit(create(1), { committed: () => heard.push('committed'), lost: (err) => heard.push(`lost: ${(err as Error).message}`) });
    expect(heard).toEqual(['lost: not serving']);
    await expect(m.driver.sync()).rejects.toThrow('not serving');
  });

  it('reports a failed barrier as fatal and goes no further', async () => {
    const m = member();
    running = m.driver;
    await m.driver.bind();
    m.driver.begin();
    (await m.storage.nextGate('acceptedEpoch 1')).fail(new Error('disk full'));
    await waitFor('the failure to be reported', () => m.fatal.length > 0);
    expect(m.fatal).toEqual(['ensemble member failed: disk full']);
    expect(m.storage.operations).toEqual(['role leading', 'acceptedEpoch 1 started']);
    expect(m.driver.serving).toBe(false);
  });
});

describe('memberCore', () => {
  it('takes a syncLimit above initLimit, as ZooKeeper does', () => {
    const props = new Map([['tickTime', '200'], ['initLimit', '5'], ['syncLimit', '10'], ['dataDir', '/tmp/zkts-unused'], ['clientPort', '0'], ['server.1', '127.0.0.1:0:0'], ['server.2', '127.0.0.1:0:0'], ['server.3', '127.0.0.1:0:0']]);
    const { config } = buildConfig(props, null);
    const tree = new DataTree({ extendedTypesEnabled: false });
    // It refused this once, naming an internal key; a zoo.cfg ZooKeeper runs must start here too.
    expect(() => memberCore(config, 1, { acceptedEpoch: 0n, currentEpoch: 0n, tree, log: [] }, 10)).not.toThrow();
  });
});
