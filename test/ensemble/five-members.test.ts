// Five voters tolerate two failures: the leader and a follower die together (SIGKILL), the
// other three elect a leader and go on; both come back and catch up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './cluster-harness.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';
import { closeClient, closeClients, connectTo, eventually, treeOn } from './clients.js';
import { scaled } from '../../src/testing/wait.js';

let cluster: Cluster | undefined;
const ensemble = (): Cluster => {
  if (cluster === undefined) throw new Error('ensemble not started');
  return cluster;
};

beforeAll(async () => {
  cluster = await Cluster.start({ participants: 5 });
}, scaled(30_000));

afterAll(async () => {
  await closeClients();
  await cluster?.destroy();
});

dumpClusterLogsOnFailure(() => cluster);

describe('a five-voter ensemble', () => {
  it('survives losing its leader and a follower at once, and takes both back', async () => {
    const leader = await ensemble().waitForLeader();
    const follower = ensemble().members.find((m) => m !== leader)!;
    const survivors = ensemble().members.filter((m) => m !== leader && m !== follower);
    const setup = await connectTo(survivors);
    await setup.create('/five', 'before');
    await closeClient(setup);

    await Promise.all([leader.kill(), follower.kill()]);
    const newLeader = await ensemble().waitForLeader({ not: [leader, follower] });
    expect(survivors).toContain(newLeader);
    for (const m of survivors) {
      const client = await connectTo([m]);
      await eventually(() => client.create(`/five/via-${m.sid}`, String(m.sid)), `a write through server ${m.sid}`);
      await closeClient(client);
    }

    await Promise.all([ensemble().restart(leader), ensemble().restart(follower)]);
    const all = ensemble().members;
    await ensemble().waitForSameZxid(all);
    const trees = await Promise.all(all.map((m) => treeOn(m, '/five')));
    for (const [i, tree] of trees.entries()) expect(tree, `tree on server ${all[i]!.sid}`).toEqual(trees[0]);
    expect(Object.keys(trees[0]!)).toEqual(['/five', ...survivors.map((m) => `/five/via-${m.sid}`)]);
    const modes = await Promise.all(all.map(async (m) => (await m.status())?.mode));
    expect(modes.filter((m) => m === 'leader')).toHaveLength(1);
    expect(modes.filter((m) => m === 'follower')).toHaveLength(4);
  });
});
