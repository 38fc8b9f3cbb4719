// Members whose history diverges from the ensemble's: a leader that logged a write it could
// never commit, and a leader paused (SIGSTOP) long enough to be replaced. Each must come back
// as a follower with exactly the tree the others have.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor, type Member } from './cluster-harness.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';
import { closeClient, closeClients, connectTo, eventually, treeOn } from './clients.js';
import { scaled } from '../../src/testing/wait.js';

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

/** Whether any txn log segment in the member's dataDir holds these bytes (it was logged). */
async function logHolds(member: Member, marker: string): Promise<boolean> {
  const dir = path.join(member.dataDir, 'version-2');
  const base = await readdir(dir).then(() => dir, () => member.dataDir);
  const files = (await readdir(base)).filter((f) => f.startsWith('log.'));
  for (const file of files) if ((await readFile(path.join(base, file))).includes(marker)) return true;
  return false;
}

async function expectSameTree(members: readonly Member[], root: string): Promise<Record<string, string>> {
  await ensemble().waitForSameZxid(members);
  const trees = await Promise.all(members.map((m) => treeOn(m, root)));
  for (const [i, tree] of trees.entries()) expect(tree, `tree under ${root} on server ${members[i]!.sid}`).toEqual(trees[0]);
  await ensemble().waitForSameZxid(members);
  return trees[0]!;
}

describe('divergent histories are cut back to the ensemble’s', () => {
  it('truncates a logged but uncommitted write from a crashed leader when it rejoins (TRUNC)', async () => {
    const leader = await ensemble().waitForLeader();
    const followers = ensemble().members.filter((m) => m !== leader);
    const setup = await connectTo([leader]);
    await setup.create('/div', 'base');
    await setup.create('/div/committed', 'yes');
    await closeClient(setup);
    await ensemble().waitForSameZxid();

    // The session first (creating it is a txn too), then both followers freeze: the leader's
    // next proposal reaches at most their socket buffers.
    const doomedWriter = await connectTo([leader], { sessionTimeout: 20_000 });
    for (const f of followers) f.pause();
    const marker = `never-committed-${process.pid}`;
    const doomedWrite = doomedWriter.create(`/div/${marker}`, marker).then(
      () => 'committed',
      () => 'failed',
    );
    await waitFor('the leader to log the proposal it cannot commit', () => logHolds(leader, marker), { timeoutMs: 5_000 });
    // The leader dies with the proposal in its log; the followers die without ever having read it.
    await leader.kill();
    for (const f of followers) await f.kill();
    expect(await doomedWrite).toBe('failed');
    await closeClient(doomedWriter);

    // The followers come back from their disks, elect a leader and commit more writes.
    for (const f of followers) f.spawn();
    await ensemble().waitForLeader({ not: [leader], timeoutMs: 20_000 });
    await ensemble().waitForServing(followers);
    const writer = await connectTo(followers);
    await eventually(() => writer.create('/div/after-1', 'a'), 'a write after the crash');
    await writer.create('/div/after-2', 'b');
    await writer.setData('/div', 'changed');
    await closeClient(writer);

    // The old leader returns holding the uncommitted txn; the new leader cuts it off.
    const mark = leader.logMark();
    await ensemble().restart(leader);
    expect((await leader.status())?.mode).toBe('follower');
    const truncated = leader.logged('txn log truncated', mark);
    expect(truncated.length, 'TRUNC on the old leader').toBeGreaterThanOrEqual(1);
    expect(truncated[0]!.truncatedAfter).not.toBe('0x0');

    const tree = await expectSameTree(ensemble().members, '/div');
    expect(tree).toEqual({ '/div': 'changed', '/div/after-1': 'a', '/div/after-2': 'b', '/div/committed': 'yes' });
    expect(await logHolds(leader, marker), 'the uncommitted txn is gone from its log too').toBe(false);
  });

  it('agrees on one history when frozen followers wake up to a dead leader’s last proposal in their sockets', async () => {
    // The same start as above, but the followers are resumed (SIGCONT) rather than killed. The
    // leader's last proposal may sit in their socket buffers: whether they log it before they
    // notice the leader is gone is a race, and ZAB allows both outcomes (a new leader keeps a
    // proposal a quorum of the survivors holds). What must hold is one history for all three.
    const leader = await ensemble().waitForLeader();
    const followers = ensemble().members.filter((m) => m !== leader);
    const setup = await connectTo([leader]);
    await setup.create('/race', 'base');
    const doomedWriter = await connectTo([leader], { sessionTimeout: 20_000 });
    await closeClient(setup);
    await ensemble().waitForSameZxid();
    for (const f of followers) f.pause();
    const marker = `maybe-committed-${process.pid}`;
    const write = doomedWriter.create(`/race/${marker}`, marker).then(
      () => 'ok',
      () => 'failed',
    );
    await waitFor('the leader to log the proposal', () => logHolds(leader, marker), { timeoutMs: 5_000 });
    await leader.kill();
    for (const f of followers) f.resume();
    expect(await write).toBe('failed');
    await closeClient(doomedWriter);

    await ensemble().waitForLeader({ not: [leader], timeoutMs: 20_000 });
    const writer = await connectTo(followers);
    await eventually(() => writer.create('/race/after', 'a'), 'a write after the crash');
    await closeClient(writer);
    await ensemble().restart(leader);
    const tree = await expectSameTree(ensemble().members, '/race');
    expect(tree['/race/after']).toBe('a');
    expect(tree['/race']).toBe('base');
    const kept = `/race/${marker}` in tree;
    expect(Object.keys(tree).length).toBe(kept ? 3 : 2);
    if (kept) expect(tree[`/race/${marker}`]).toBe(marker);
  });

  it('replaces a paused leader; once resumed it stops leading at once and rejoins as a follower', async () => {
    const leader = await ensemble().waitForLeader();
    const followers = ensemble().members.filter((m) => m !== leader);
    const setup = await connectTo(followers);
    await setup.create('/pause', 'before');
    await closeClient(setup);
    await ensemble().waitForSameZxid();

    // A client of the leader alone: what it asks while the leader is frozen waits in the socket.
    const stale = await connectTo([leader], { sessionTimeout: 20_000 });
    leader.pause();
    const pausedAt = Date.now();
    const staleWrite = stale.create('/pause/via-paused-leader', 'x').then(
      () => 'ok',
      () => 'failed',
    );
    const staleRead = stale.getData('/pause').then(
      ({ data }) => data?.toString('utf8'),
      () => 'failed',
    );
    const newLeader = await ensemble().waitForLeader({ not: [leader] });
    const failoverMs = Date.now() - pausedAt;
    expect(followers).toContain(newLeader);
    const writer = await connectTo(followers);
    await eventually(() => writer.setData('/pause', 'during'), 'a write while the old leader is paused');
    await closeClient(writer);

    // Resume, and ask it what it is as fast as it answers.
    leader.resume();
    const resumedAt = Date.now();
    const answers: { at: number; mode: string | undefined }[] = [];
    await waitFor('the resumed leader to follow', async () => {
        const status = await leader.status(2_000);
        answers.push({ at: Date.now() - resumedAt, mode: status?.mode });
        return status?.mode === 'follower';
      }, { timeoutMs: 15_000, intervalMs: 10 }
    );
    // It never answers as leader: before it answers anything it delivers the ticks it missed,
    // and those tell it that it lost its quorum. Counted, not timed: on a loaded machine the
    // time from SIGCONT to its first answer is the scheduler's, not the server's.
    const leaderAnswers = answers.filter((a) => a.mode === 'leader');
    expect(leaderAnswers, `srvr answers after resume: ${JSON.stringify(answers.slice(0, 20))}`).toEqual([]);
    expect(await ensemble().waitForLeader()).toBe(newLeader);

    // The write sent to the frozen leader was never committed anywhere, and the read it had
    // queued was not answered from its stale tree ('before') after it woke up.
    expect(await staleWrite).toBe('failed');
    expect(await staleRead).not.toBe('before');
    await closeClient(stale);
    const tree = await expectSameTree(ensemble().members, '/pause');
    expect(tree).toEqual({ '/pause': 'during' });
    expect(failoverMs).toBeLessThan(scaled(15_000));
  });
});
