// What a real three-member ensemble must get right between its members. A session's close is a
// txn: between the leader accepting it and its commit, the session must not be handed back to a
// client that reconnects (ZooKeeper marks it closing when it prepares the close); else the old
// holder of a session taken over and closed, as Curator's KillSession does, is told "connected"
// and believes its ephemerals are still there. And a write left on a connection its client has
// since left (held by a partition that heals) must not apply after the client's later writes
// through another member (ZooKeeper answers it SESSIONMOVED). And with three voters the leader
// and any one follower are a quorum: a follower applies a write once both have it durable
// (LEADERDURABLE), without waiting for the leader to hear its ACK and send the COMMIT.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fourLetterWord } from '../../src/admin/four-letter-client.js';
import { createClient, type ZooKeeperClient } from '../../src/client/index.js';
import { TestingCluster } from '../../src/testing/index.js';
import { scaled, waitFor } from '../../src/testing/wait.js';

let cluster: TestingCluster | undefined;
const clients: ZooKeeperClient[] = [];

beforeAll(async () => {
  // syncLimit of 20 s (above initLimit's 2 s, which ZooKeeper allows too): the peer messages
  // held back below keep the ensemble as it is.
  cluster = await TestingCluster.start({ size: 3, tickTime: 200, syncLimit: 100 });
}, scaled(60_000));

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.close();
});

function client(connectString: string, options: Parameters<typeof createClient>[1] = {}): ZooKeeperClient {
  const zk = createClient(connectString, { shuffleHosts: false, ...options });
  clients.push(zk);
  return zk;
}

/** A four-letter word's answer from a member, asked past its proxy. */
async function ask(directConnectString: string, word: 'mntr' | 'srvr'): Promise<string> {
  const [host, port] = directConnectString.split(':') as [string, string];
  return fourLetterWord(host, Number(port), word, scaled(2_000));
}

/** The member's count of requests held (mntr's zk_outstanding_requests). */
async function outstanding(directConnectString: string): Promise<number> {
  return Number(/^zk_outstanding_requests\s+(\d+)$/m.exec(await ask(directConnectString, 'mntr'))?.[1] ?? Number.NaN);
}

/** The zxid the member last applied (srvr). */
async function appliedZxid(directConnectString: string): Promise<bigint> {
  return BigInt(/^Zxid: (0x[0-9a-f]+)$/m.exec(await ask(directConnectString, 'srvr'))![1]!);
}

describe('a session whose close is pending', () => {
  it('is refused, as expired, to a client resuming it at the leader before the close commits; the close then commits everywhere', async () => {
    const c = cluster!;
    const leader = c.server(await c.waitForLeader());
    const holder = client(leader.connectString, { sessionTimeout: 10_000 });
    await holder.connect();
    await holder.create('/owned', 'x', { mode: 'EPHEMERAL' });
    const follower = c.server(c.followers()[0]!);
    const observer = client(follower.connectString);
    await observer.connect();

    // Every peer message is held back: the leader proposes the close, but for a while no
    // follower logs it, so it cannot commit.
    await c.delayPeerMessages(scaled(3_000));
    const closed = holder.close();
    await waitFor('the leader holding the close', async () => (await outstanding(leader.directConnectString)) >= 1, { timeoutMs: 2_000 });

    const resumer = client(leader.connectString, { sessionId: holder.sessionId, sessionPassword: holder.sessionPassword, sessionTimeout: 10_000 });
    const states: string[] = [];
    resumer.on('state', (change: { state: string }) => states.push(change.state));
    await expect(resumer.connect()).rejects.toThrow(/expired/i);
    // Refused before the close committed: the follower has not applied it.
    expect(await observer.exists('/owned')).not.toBeNull();
    expect(states).not.toContain('SYNC_CONNECTED');

    await c.heal();
    await closed;
    await waitFor('the ephemeral gone', async () => (await observer.exists('/owned')) === null, { timeoutMs: 10_000 });
  });
});

describe('a session resumed through another member', () => {
  it('answers SESSIONMOVED to a write still sent on the old connection, and does not apply it after the writes made through the new one', async () => {
    const c = cluster!;
    const leader = await c.waitForLeader();
    const [old, next] = c.followers() as [number, number];
    // The client's old connection, left open on the member it used to write through (as a
    // partition that heals leaves it, with writes still in it).
    const before = client(c.server(old).connectString, { sessionTimeout: 10_000 });
    await before.connect();
    await before.create('/moved', 'v0');
    const after = client(c.server(next).connectString, { sessionId: before.sessionId, sessionPassword: before.sessionPassword, sessionTimeout: 10_000 });
    await after.connect();
    await after.setData('/moved', 'v2');

    await expect(before.setData('/moved', 'v1')).rejects.toThrow(/session moved/i);
    const observer = client(c.server(leader).connectString);
    await observer.connect();
    await observer.sync('/moved');
    expect((await observer.getData('/moved')).data?.toString()).toBe('v2');
  });
});

describe('a follower committing on the leader\'s durable point', () => {
  it('answers a write through it while the leader, whose ACKs are held back, has not applied it yet', async () => {
    const c = cluster!;
    const leader = c.server(await c.waitForLeader());
    const zk = client(c.server(c.followers()[0]!).connectString, { sessionTimeout: 10_000 });
    await zk.connect();
    await zk.create('/durable', 'v0');

    // Everything the followers send the leader (the forwarded write, then their ACKs) is held
    // back: the write reaches the leader one delay late, the ACKs that would commit it two.
    await c.delayPeerMessages(scaled(1_500), { to: leader.id });
    const stat = await zk.setData('/durable', 'v1');
    expect(await appliedZxid(leader.directConnectString)).toBeLessThan(stat.mzxid);
    await c.heal();
    const observer = client(leader.connectString);
    await observer.connect();
    await observer.sync('/durable');
    expect((await observer.getData('/durable')).data?.toString()).toBe('v1');
  });
});
