// One ensemble of real processes (three voters and an observer), all healthy: every write is
// seen by every server, sessions are global (they move between servers with their ephemerals
// and expire everywhere), and unmodified third-party clients on different servers see one tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor } from './cluster-harness.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';
import { closeClient, closeClients, connectTo, dumpTree, errorCode, treeOn } from './clients.js';
import { javaCli, nodeClient } from './third-party.js';
import { scaled } from '../../src/testing/wait.js';

let cluster: Cluster | undefined;
const ensemble = (): Cluster => {
  if (cluster === undefined) throw new Error('ensemble not started');
  return cluster;
};

beforeAll(async () => {
  cluster = await Cluster.start({ participants: 3, observers: 1 });
}, scaled(30_000));

afterAll(async () => {
  await closeClients();
  await cluster?.destroy();
});

dumpClusterLogsOnFailure(() => cluster);

describe('a healthy ensemble (3 voters + 1 observer)', () => {
  it('reports one leader, two followers and an observer, all synced', async () => {
    const modes = await Promise.all(ensemble().members.map(async (m) => (await m.status())?.mode));
    expect(modes.filter((m) => m === 'leader')).toHaveLength(1);
    expect(modes.filter((m) => m === 'follower')).toHaveLength(2);
    expect(modes[3]).toBe('observer');
    const leader = await ensemble().waitForLeader();
    await waitFor('two synced followers in mntr', async () => (await leader.mntr()).get('zk_synced_followers') === '2', { timeoutMs: 5_000 });
    expect((await leader.mntr()).get('zk_synced_observers')).toBe('1');
  });

  it('makes a write through any server visible on every server after sync', async () => {
    const members = ensemble().members;
    const writers = await Promise.all(members.map((m) => connectTo([m])));
    await writers[0]!.create('/everywhere', 'root');
    for (const [i, writer] of writers.entries()) {
      const { path, stat } = await writer.create(`/everywhere/from-${members[i]!.sid}`, `written via server ${members[i]!.sid}`);
      expect(path).toBe(`/everywhere/from-${members[i]!.sid}`);
      expect(stat.czxid).toBeGreaterThan(0n);
    }
    const expected = {
      '/everywhere': 'root',
      ...Object.fromEntries(members.map((m) => [`/everywhere/from-${m.sid}`, `written via server ${m.sid}`])),
    };
    for (const m of members) expect(await treeOn(m, '/everywhere'), `tree on server ${m.sid}`).toEqual(expected);
    const zxid = await ensemble().waitForSameZxid(members);
    expect(zxid).toBeGreaterThanOrEqual(writers[3]!.lastZxid);
    await Promise.all(writers.map((w) => closeClient(w)));
  });

  it('sends a burst of writes to its peers in fewer socket writes than frames', async () => {
    const leader = await ensemble().waitForLeader();
    const client = await connectTo([leader]);
    await client.create('/burst', null);
    const before = await leader.mntr();
    await Promise.all(Array.from({ length: 300 }, (_, i) => client.create(`/burst/n${i}`, 'x')));
    const after = await leader.mntr();
    const delta = (key: string): number => Number(after.get(key)) - Number(before.get(key));
    // At least a PROPOSAL per follower and an INFORM to the observer for each create.
    expect(delta('zk_peer_frames_sent')).toBeGreaterThanOrEqual(300 * 3);
    // Frames of one turn of the event loop share a writev.
    expect(delta('zk_peer_writes')).toBeGreaterThan(0);
    expect(delta('zk_peer_writes')).toBeLessThan(delta('zk_peer_frames_sent') / 2);
    await closeClient(client);
  });

  it('moves a session to another server with its ephemerals', async () => {
    const [s1, s2, s3] = ensemble().members;
    const owner = await connectTo([s1!], { sessionTimeout: 2_000 });
    await owner.create('/moving', null);
    await owner.create('/moving/eph', 'mine', { mode: 'EPHEMERAL' });
    const sessionId = owner.sessionId;

    // The same session, resumed on server 2 by a second client object with the id and
    // password (the first one is closed without ending the session: it just goes away).
    const resumed = await connectTo([s2!], { sessionId, sessionPassword: owner.sessionPassword, sessionTimeout: 2_000 });
    expect(resumed.sessionId).toBe(sessionId);
    expect(resumed.currentServer).toBe(s2!.connectString);
    const { stat } = await resumed.getData('/moving/eph');
    expect(stat.ephemeralOwner).toBe(sessionId);
    // It can still act as the owner on the new server: its ephemerals list it.
    expect(await resumed.getEphemerals('/moving')).toEqual(['/moving/eph']);

    // Longer than the session timeout later, touched only via server 2, it is still alive everywhere.
    const watcher = await connectTo([s3!]);
    const aliveUntil = Date.now() + 2_500;
    await waitFor('a session timeout to pass', async () => (await resumed.exists('/moving/eph')) !== null && Date.now() >= aliveUntil, { timeoutMs: 8_000 });
    await watcher.sync('/moving');
    expect((await watcher.exists('/moving/eph'))?.ephemeralOwner).toBe(sessionId);
    await closeClient(resumed);
    await waitFor('the ephemeral gone once the moved session closes', async () => (await watcher.exists('/moving/eph')) === null, { timeoutMs: 5_000 });
    await closeClient(watcher);
    // The original object is stale now; close it locally.
    await closeClient(owner);
  });

  it('removes an expired session’s ephemerals from every server', async () => {
    const members = ensemble().members;
    const sessionTimeoutMs = 1_000;
    // A session on a follower (expiry is tracked by the leader, fed by the follower's touches).
    const follower = members.find((m) => m.role === 'participant')!;
    const doomed = await connectTo([follower], { sessionTimeout: sessionTimeoutMs });
    await doomed.create('/doomed', null);
    await doomed.create('/doomed/eph', 'x', { mode: 'EPHEMERAL' });
    const ownerId = doomed.sessionId;
    for (const m of members) expect(await treeOn(m, '/doomed'), `server ${m.sid} before expiry`).toEqual({ '/doomed': '', '/doomed/eph': 'x' });

    // The client process "dies": its server stops hearing from it, with no closeSession.
    follower.pause();
    try {
      // Only server 1 is paused; the others keep serving and the leader expires the session.
      const others = members.filter((m) => m !== follower);
      for (const m of others) {
        const reader = await connectTo([m]);
        await waitFor(`the expired ephemeral gone on server ${m.sid}`, async () => {
          await reader.sync('/doomed');
          return (await reader.exists('/doomed/eph')) === null;
        }, { timeoutMs: 10_000 });
        await closeClient(reader);
      }
    } finally {
      follower.resume();
    }
    await ensemble().waitForServing([follower]);
    expect(await treeOn(follower, '/doomed')).toEqual({ '/doomed': '' });
    // The session itself is gone: resuming it is refused.
    await expect(connectTo([members[2]!], { sessionId: ownerId, sessionPassword: doomed.sessionPassword })).rejects.toSatisfy(
      (error: unknown) => errorCode(error) === -112,
    );
    await closeClient(doomed);
  });

  it('shows one tree to node-zookeeper-client, the Java CLI and our client on different servers', async () => {
    const [s1, s2, s3, observer] = ensemble().members;
    const node = await nodeClient(s1!);
    try {
      await node.create('/mixed', 'from-node');
      await node.create('/mixed/a', 'node-a');
    } finally {
      node.close();
    }
    const cli = await javaCli(s2!, ['create /mixed/b java-b', 'set /mixed java-root', 'sync /mixed', 'ls /mixed', 'get /mixed/a']);
    // Without JLine the CLI does not print "Created"; the listing shows the node.
    expect(cli.stdout).toMatch(/\[a, b\]/);
    expect(cli.stdout).toContain('node-a');

    const ours = await connectTo([s3!]);
    await ours.create('/mixed/c', 'ts-c');
    const expected = { '/mixed': 'java-root', '/mixed/a': 'node-a', '/mixed/b': 'java-b', '/mixed/c': 'ts-c' };
    expect(await dumpTree(ours, '/mixed')).toEqual(expected);

    // Read back through node-zookeeper-client on the observer and the Java CLI on server 1.
    // node-zookeeper-client has no sync: the observer must catch up on its own, promptly.
    const reader = await nodeClient(observer!);
    try {
      await waitFor('the observer to show the tree', async () => JSON.stringify(await reader.dump('/mixed')) === JSON.stringify(expected), { timeoutMs: 5_000 });
      expect(await reader.dump('/mixed')).toEqual(expected);
    } finally {
      reader.close();
    }
    const check = await javaCli(s1!, ['sync /mixed', 'ls /mixed', 'get /mixed/c', 'get /mixed']);
    expect(check.stdout).toMatch(/\[a, b, c\]/);
    expect(check.stdout).toContain('ts-c');
    expect(check.stdout).toContain('java-root');
    await closeClient(ours);
  });
});
