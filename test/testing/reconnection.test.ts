// zkts/testing, from a client's side: what each toxic of cluster.net(id) and expireSession do
// to a real client on a real three-member cluster.
import zookeeper from 'node-zookeeper-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TestingCluster } from '../../src/testing/index.js';
import { scaled, waitFor, withDeadline } from '../../src/testing/wait.js';
import { closeAll, connect, eventually, outcome, type Tracked } from './clients.js';

const sessionTimeoutMs = 4_000;
/** Our client gives up on a silent server after 2/3 of the session timeout. */
const readTimeoutMs = (sessionTimeoutMs * 2) / 3;

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
});
afterEach(async (context) => {
  await closeAll();
  if (context.task.result?.state === 'fail') process.stderr.write(`\n${cluster.logTails(30)}\n`);
});

/** A client whose first host is server `id` (through its proxy), then the others. */
async function clientOn(id: number, options: { sessionTimeout?: number } = {}): Promise<Tracked> {
  const first = cluster.server(id);
  const rest = cluster.servers.filter((s) => s.id !== id);
  const c = await connect([first, ...rest].map((s) => s.connectString).join(','), { sessionTimeout: options.sessionTimeout ?? sessionTimeoutMs });
  expect(c.zk.currentServer).toBe(first.connectString);
  return c;
}

/** Whether `path` exists on member `id`, after a sync there (a short session of its own, past the proxy). */
async function existsOn(id: number, path: string): Promise<boolean> {
  const reader = await connect(cluster.server(id).directConnectString, { sessionTimeout: 10_000 });
  try {
    await reader.zk.sync(path);
    return (await reader.zk.exists(path)) !== null;
  } finally {
    await reader.zk.close();
  }
}

async function timed(op: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await op();
  return performance.now() - start;
}

describe('cluster.net(id): client-side toxics', () => {
  it('blackhole: the client hears nothing, goes DISCONNECTED after its read timeout, and resumes its session on another member', async () => {
    const id = (await cluster.waitForLeader()) === 1 ? 2 : 1;
    const c = await clientOn(id);
    const session = c.zk.sessionId;
    await c.zk.create('/bh', 'x', { mode: 'EPHEMERAL' });
    const from = c.states.length;
    const silentAt = Date.now();
    cluster.net(id).blackhole();
    await waitFor('DISCONNECTED', () => c.since(from, 'DISCONNECTED').length > 0, { timeoutMs: sessionTimeoutMs });
    const lost = c.since(from, 'DISCONNECTED')[0]!;
    // Silence, not a close: only the read timeout notices it.
    expect(lost.reason, c.history()).toMatch(/nothing heard/);
    expect(lost.at - silentAt).toBeGreaterThanOrEqual(readTimeoutMs - sessionTimeoutMs / 3 - 50);
    const back = await waitFor('the session back elsewhere', () => c.since(from, 'SYNC_CONNECTED')[0], { timeoutMs: sessionTimeoutMs });
    expect(back.sessionId).toBe(session);
    expect(back.server).not.toBe(cluster.server(id).connectString);
    expect(await existsOn(id, '/bh')).toBe(true);
  });

  it('latency: every reply through the proxy arrives that much later', async () => {
    const c = await clientOn(1);
    await c.zk.create('/lat', 'x');
    cluster.net(1).latency(300);
    expect(await timed(() => c.zk.getData('/lat'))).toBeGreaterThanOrEqual(295);
    cluster.net(1).latency(300, 0, 'both');
    expect(await timed(() => c.zk.getData('/lat'))).toBeGreaterThanOrEqual(595);
  });

  it('bandwidth: a large reply takes as long as the rate says', async () => {
    const c = await clientOn(1);
    const kib = 256;
    await c.zk.create('/big', Buffer.alloc(kib * 1024, 7));
    cluster.net(1).bandwidth(kib * 2); // KiB/s: half a second for the reply
    const elapsed = await timed(() => c.zk.getData('/big'));
    expect(elapsed).toBeGreaterThanOrEqual(450);
  });

  it('reset: the client is cut off at once (no read timeout) and cannot come back to that member until healed', async () => {
    const c = await clientOn(1);
    const session = c.zk.sessionId;
    const from = c.states.length;
    const acceptedBefore = cluster.net(1).accepted;
    cluster.net(1).reset();
    await waitFor('DISCONNECTED', () => c.since(from, 'DISCONNECTED').length > 0, { timeoutMs: readTimeoutMs });
    expect(c.since(from, 'DISCONNECTED')[0]!.reason, c.history()).not.toMatch(/nothing heard/);
    const back = await waitFor('the session back on another member', () => c.since(from, 'SYNC_CONNECTED')[0], { timeoutMs: sessionTimeoutMs });
    expect(back.sessionId).toBe(session);
    expect(back.server).not.toBe(cluster.server(1).connectString);
    // A client that knows only member 1 keeps being reset, then gets in once healed.
    const only = connect(cluster.server(1).connectString);
    await waitFor('new connections to be reset', () => cluster.net(1).accepted >= acceptedBefore + 3);
    cluster.net(1).heal();
    const late = await only;
    expect(late.zk.state).toBe('SYNC_CONNECTED');
  });

  it('drop: lost chunks reset the connection; requests fail with CONNECTIONLOSS and the session survives', async () => {
    const c = await connect(cluster.server(1).connectString, { sessionTimeout: 10_000 });
    const session = c.zk.sessionId;
    await c.zk.create('/drop', 'x');
    cluster.net(1).drop(40);
    const results: string[] = [];
    for (let i = 0; i < 30; i++) results.push(await outcome(c.zk.getData('/drop')));
    cluster.net(1).heal();
    expect(results.filter((r) => r === 'CONNECTIONLOSS').length, results.join(',')).toBeGreaterThan(0);
    expect(results.filter((r) => r === 'ok').length, results.join(',')).toBeGreaterThan(0);
    expect(c.since(0, 'DISCONNECTED').length).toBeGreaterThan(0);
    await eventually('a read after healing', () => c.zk.getData('/drop'));
    expect(c.zk.sessionId).toBe(session);
  });
});

describe('cluster.expireSession', () => {
  it('the owner sees EXPIRED and its ephemerals are gone on every member', async () => {
    const c = await clientOn(2, { sessionTimeout: 20_000 });
    await c.zk.create('/owned', 'mine', { mode: 'EPHEMERAL' });
    for (const s of cluster.servers) expect(await existsOn(s.id, '/owned'), `server ${s.id}`).toBe(true);
    await cluster.expireSession(`0x${c.zk.sessionId.toString(16)}`);
    await waitFor('EXPIRED', () => c.zk.state === 'EXPIRED', { timeoutMs: 10_000 });
    for (const s of cluster.servers) expect(await existsOn(s.id, '/owned'), `server ${s.id}`).toBe(false);
    await expect(cluster.expireSession(c.zk.sessionId)).rejects.toThrow(/is not alive/);
  });

  it('node-zookeeper-client sees its session expire too', async () => {
    const client = zookeeper.createClient(cluster.connectString, { sessionTimeout: 20_000, retries: 0 });
    let expired = false;
    client.once('expired', () => (expired = true));
    const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
    client.connect();
    try {
      await withDeadline(connected, 15_000, 'node-zookeeper-client to connect');
      await new Promise<void>((resolve, reject) =>
        client.create('/nzc-eph', Buffer.from('x'), zookeeper.CreateMode.EPHEMERAL, (error: Error | null) => (error ? reject(error) : resolve())),
      );
      const sessionId = BigInt(`0x${client.getSessionId().toString('hex')}`);
      await cluster.expireSession(sessionId);
      await waitFor('node-zookeeper-client to report its session expired', () => expired, { timeoutMs: 10_000 });
      for (const s of cluster.servers) expect(await existsOn(s.id, '/nzc-eph'), `server ${s.id}`).toBe(false);
    } finally {
      client.close();
    }
  });
});

describe('a reconnection that outlives its member’s leader', () => {
  it('is sent elsewhere, not told its session expired: the member lost its leader while the leader was asked about the session', async () => {
    const leader = await cluster.waitForLeader();
    const id = cluster.followers()[0]!;
    // Only this member, so that the reconnection below asks its (soon lost) leader.
    const c = await connect(cluster.server(id).connectString, { sessionTimeout: 10_000 });
    const session = c.zk.sessionId;
    const from = c.states.length;
    // The question reaches the leader; its answer, like its PINGs, never comes back.
    await cluster.oneWay(leader, id);
    cluster.net(id).reset();
    await waitFor(`server ${id} to stop serving`, async () => (await cluster.status()).find((s) => s.id === id)?.mode !== 'follower', { timeoutMs: 10_000, intervalMs: 20 });
    await cluster.heal();
    const back = await waitFor('the session back', () => c.since(from, 'SYNC_CONNECTED')[0], { timeoutMs: 10_000 });
    expect(back.sessionId, c.history()).toBe(session);
    expect(c.since(from, 'EXPIRED'), c.history()).toEqual([]);
    await c.zk.create('/after-lost-leader', 'x', { mode: 'EPHEMERAL' });
  });
});
