// A three-voter ensemble of real processes loses its leader to SIGKILL, twice: a new leader
// is elected and writes go on through the survivors; the killed member comes back on its own
// dataDir and catches up, once by DIFF (it missed a few txns) and once by SNAP (it missed more
// than the leader's 500-txn window).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZooKeeperClient } from '../../src/client/index.js';
import { Cluster, type Member } from './cluster-harness.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';
import { closeClient, closeClients, connectTo, eventually, treeOn } from './clients.js';
import { scaled } from '../../src/testing/wait.js';

/** The leader keeps this many committed txns for DIFF (committedLogWindowMax). */
const diffWindowTxns = 500;

let cluster: Cluster | undefined;
const ensemble = (): Cluster => {
  if (cluster === undefined) throw new Error('ensemble not started');
  return cluster;
};

beforeAll(async () => {
  cluster = await Cluster.start({ participants: 3 });
}, scaled(30_000));

afterAll(async () => {
  await closeClients();
  await cluster?.destroy();
});

dumpClusterLogsOnFailure(() => cluster);

/** Creates `count` children of `parent` with pipelined requests, `inFlight` at a time. */
async function createMany(client: ZooKeeperClient, parent: string, count: number, inFlight = 100): Promise<void> {
  for (let start = 0; start < count; start += inFlight) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(count, start + inFlight); i++) batch.push(client.create(`${parent}/n${String(i).padStart(4, '0')}`, `v${i}`));
    await Promise.all(batch);
  }
}

/**
 * Every member shows the same tree under `root` and, once the reading sessions are closed
 * (session creation and closing are txns too), the same zxid.
 */
async function expectConverged(members: readonly Member[], root: string): Promise<Record<string, string>> {
  await ensemble().waitForSameZxid(members);
  const trees = await Promise.all(members.map((m) => treeOn(m, root)));
  for (const [i, tree] of trees.entries()) expect(tree, `tree under ${root} on server ${members[i]!.sid}`).toEqual(trees[0]);
  await ensemble().waitForSameZxid(members);
  return trees[0]!;
}

describe('leader failover with real processes', () => {
  let firstLeader: Member;

  it('elects a new leader after the leader is killed with SIGKILL, and writes go on through every survivor', async () => {
    firstLeader = await ensemble().waitForLeader();
    const survivors = ensemble().members.filter((m) => m !== firstLeader);
    const setup = await connectTo(survivors);
    await setup.create('/failover', 'before');
    await setup.create('/failover/before-kill', 'x');
    await closeClient(setup);

    await firstLeader.kill();
    const newLeader = await ensemble().waitForLeader({ not: [firstLeader] });
    expect(survivors).toContain(newLeader);
    await ensemble().waitForServing(survivors);

    for (const m of survivors) {
      const client = await connectTo([m]);
      await eventually(() => client.create(`/failover/via-${m.sid}`, `after kill, via ${m.sid}`), `a write through server ${m.sid}`);
      await closeClient(client);
    }
    const tree = await expectConverged(survivors, '/failover');
    expect(Object.keys(tree)).toEqual(['/failover', '/failover/before-kill', ...survivors.map((m) => `/failover/via-${m.sid}`)]);
  });

  it('brings the killed leader back by DIFF: it restarts on its dataDir and catches up on the few txns it missed', async () => {
    const mark = firstLeader.logMark();
    const leader = await ensemble().waitForLeader();
    await ensemble().restart(firstLeader);
    expect((await firstLeader.status())?.mode).toBe('follower');
    // One leader still, the one elected while it was down.
    expect(await ensemble().waitForLeader()).toBe(leader);
    const all = ensemble().members;
    const tree = await expectConverged(all, '/failover');
    expect(tree['/failover/via-' + all.find((m) => m !== firstLeader)!.sid]).toMatch(/^after kill/);
    // DIFF: the member kept its log, took no snapshot from the leader and truncated nothing.
    expect(firstLeader.logged('ensemble state recovered', mark)[0]?.logged, 'txns it recovered from its own log').toBeGreaterThanOrEqual(2);
    expect(firstLeader.logged('snapshot written', mark)).toEqual([]);
    expect(firstLeader.logged('txn log truncated', mark)).toEqual([]);
  });

  it('brings a leader killed for longer back by SNAP: it missed more txns than the DIFF window', async () => {
    const leader = await ensemble().waitForLeader();
    const survivors = ensemble().members.filter((m) => m !== leader);
    await leader.kill();
    await ensemble().waitForLeader({ not: [leader] });
    const writer = await connectTo(survivors);
    await eventually(() => writer.create('/bulk', null), 'a write after the second failover');
    await createMany(writer, '/bulk', diffWindowTxns + 100);
    await closeClient(writer);

    const mark = leader.logMark();
    await ensemble().restart(leader);
    const tree = await expectConverged(ensemble().members, '/bulk');
    expect(Object.keys(tree)).toHaveLength(diffWindowTxns + 101);
    expect(tree['/bulk/n0599']).toBe('v599');
    // SNAP: the leader's snapshot was written to this member's disk and its old log dropped.
    const written = leader.logged('snapshot written', mark);
    expect(written.length, 'snapshots written after the restart').toBeGreaterThanOrEqual(1);
    expect(leader.logged('txn log truncated', mark).map((r) => r.truncatedAfter)).toContain('0x0');
    // And it survives another restart from that snapshot.
    const again = leader.logMark();
    await leader.stop();
    await ensemble().restart(leader);
    expect(leader.logged('snapshot loaded', again).length).toBe(1);
    await expectConverged(ensemble().members, '/bulk');
  });
});
