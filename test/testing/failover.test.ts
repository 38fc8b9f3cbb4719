// zkts/testing, from the ensemble's side: isolating, partitioning, delaying and dropping peer
// traffic between real member processes, and what clients see of it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TestingCluster } from '../../src/testing/index.js';
import { scaled, waitFor } from '../../src/testing/wait.js';
import { closeAll, connect, eventually, outcome } from './clients.js';

let cluster: TestingCluster;

beforeAll(async () => {
  cluster = await TestingCluster.start({ size: 3, tickTime: 100 });
}, scaled(60_000));
afterAll(async () => {
  await cluster?.close();
});
beforeEach(async () => {
  await cluster.heal();
  await cluster.waitForQuorum();
  await cluster.waitForServing();
});
afterEach(async (context) => {
  await closeAll();
  if (context.task.result?.state === 'fail') process.stderr.write(`\n${cluster.logTails(40)}\n`);
});

async function modeOf(id: number): Promise<string | null> {
  return (await cluster.status()).find((s) => s.id === id)!.mode;
}

describe('peer faults on a three-member cluster', () => {
  it('isolate(leader): the others elect a new leader, the isolated one stops serving, and after heal it follows and converges', async () => {
    const old = await cluster.waitForLeader();
    const direct = await connect(cluster.server(old).directConnectString, { sessionTimeout: 10_000 });
    const writer = await connect(cluster.connectString, { sessionTimeout: 10_000 });
    await writer.zk.create('/iso', 'before');
    await cluster.isolate(old);
    const successor = await cluster.waitForLeader({ not: [old] });
    expect(successor).not.toBe(old);
    await waitFor('the isolated member to stop serving', async () => (await modeOf(old)) === 'looking');
    // Its own clients are let go, and it takes no request while it cannot reach a quorum.
    await waitFor('the direct client to be disconnected', () => direct.zk.state !== 'SYNC_CONNECTED');
    expect(await outcome(direct.zk.getData('/iso'))).toBe('CONNECTIONLOSS');
    await eventually('a write through the majority', () => writer.zk.setData('/iso', 'during'));
    await cluster.heal();
    await cluster.waitForServing();
    expect(await cluster.waitForLeader()).toBe(successor);
    expect(await modeOf(old)).toBe('follower');
    await cluster.assertConverged();
  });

  it('a minority partition refuses writes while the majority takes them; healed, the minority catches up', async () => {
    const leader = await cluster.waitForLeader();
    const minority = cluster.followers()[0]!;
    const majority = cluster.servers.map((s) => s.id).filter((id) => id !== minority);
    const setup = await connect(cluster.connectString);
    await setup.zk.create('/part', null);
    // A client that knows only the minority member.
    const stranded = await connect(cluster.server(minority).directConnectString, { sessionTimeout: 20_000 });
    await cluster.partition([majority, [minority]]);
    await waitFor('the minority member to stop serving', async () => (await modeOf(minority)) === 'looking');
    expect(await outcome(stranded.zk.create('/part/minority', 'x'))).toBe('CONNECTIONLOSS');
    const majorityClient = await connect(majority.map((id) => cluster.server(id).directConnectString).join(','));
    for (let i = 0; i < 5; i++) await eventually('a write through the majority', () => majorityClient.zk.create(`/part/majority-${i}`, 'x'));
    expect(await outcome(stranded.zk.create('/part/minority', 'x'))).toBe('CONNECTIONLOSS');
    expect(await cluster.waitForLeader({ not: [minority] })).toBe(leader);
    await cluster.heal();
    await cluster.waitForServing();
    await cluster.assertConverged();
    // Back in, the stranded client's session is still there and it sees what the majority wrote.
    const children = await eventually('a read through the healed member', () => stranded.zk.getChildren('/part'));
    expect(children.sort()).toEqual(['majority-0', 'majority-1', 'majority-2', 'majority-3', 'majority-4']);
    expect(stranded.since(0, 'EXPIRED')).toEqual([]);
  });

  it('delayed peer messages slow every write by the proposal and acknowledgement trips', async () => {
    const leader = await cluster.waitForLeader();
    const c = await connect(cluster.server(leader).directConnectString);
    await c.zk.create('/slow', '0');
    await cluster.delayPeerMessages(200);
    const start = performance.now();
    await c.zk.setData('/slow', '1');
    expect(performance.now() - start).toBeGreaterThanOrEqual(390);
    await cluster.heal();
    await cluster.assertConverged();
  });

  it('dropping every message to the leader makes the followers elect one of their own', async () => {
    const leader = await cluster.waitForLeader();
    await cluster.dropPeerMessages(100, { to: leader });
    const successor = await cluster.waitForLeader({ not: [leader] });
    expect(successor).not.toBe(leader);
    await cluster.heal();
    await cluster.waitForServing();
    await cluster.assertConverged();
  });

  it('oneWay(leader, follower): the follower stops hearing the leader and leaves it; the other two keep a quorum', async () => {
    const leader = await cluster.waitForLeader();
    const deaf = cluster.followers()[0]!;
    await cluster.oneWay(leader, deaf);
    await waitFor('the deaf follower to stop serving', async () => (await modeOf(deaf)) !== 'follower');
    const c = await connect(cluster.connectString);
    await eventually('a write', () => c.zk.create('/one-way', 'x'));
    await cluster.heal();
    await cluster.waitForServing();
    await cluster.assertConverged();
  });

  it('partition names every member exactly once', async () => {
    await expect(cluster.partition([[1, 2]])).rejects.toThrow(/server 3 is in 0/);
    await expect(cluster.partition([[1, 2], [2, 3]])).rejects.toThrow(/server 2 is in 2/);
    await expect(cluster.partition([[1, 2], [3, 4]])).rejects.toThrow(/do not exist: 4/);
  });
});
