// The lock's test suite, as an application would write it with zkts/testing: a real three-server
// cluster, and the failures that break naive locks. Whatever happens, no two contenders may
// believe they hold the lock at the same time.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ZooKeeperClient } from 'zkts';
import { TestingCluster, waitFor } from 'zkts/testing';
import { DistributedLock } from './lock.js';

interface Contender {
  name: string;
  zk: ZooKeeperClient;
  lock: DistributedLock;
  /** When this contender believed it held the lock: [from, to), `to` undefined while it still does. */
  held: { from: number; to?: number }[];
  events: string[];
}

let cluster: TestingCluster;
const contenders: Contender[] = [];

beforeAll(async () => {
  cluster = await TestingCluster.start({ size: 3, tickTime: 100 });
  const setup = createClient(cluster.connectString);
  await setup.connect();
  await setup.create('/locks');
  await setup.close();
});

afterAll(async () => {
  await cluster?.close();
});

afterEach(async () => {
  await Promise.all(contenders.splice(0).map((c) => c.zk.close()));
  await cluster.heal();
  for (const server of cluster.servers) if (server.state === 'stopped') await cluster.start(server.id);
  await cluster.waitForQuorum();
});

let lockCount = 0;

async function contenders2(options: { a: { connectString: string; sessionTimeout: number }; b: { connectString: string } }): Promise<[Contender, Contender, string]> {
  const path = `/locks/lock-${++lockCount}`;
  const a = await contender('A', options.a.connectString, options.a.sessionTimeout, path);
  await a.zk.create(path);
  const b = await contender('B', options.b.connectString, 10_000, path);
  return [a, b, path];
}

async function contender(name: string, connectString: string, sessionTimeout: number, path: string): Promise<Contender> {
  const zk = createClient(connectString, { sessionTimeout, shuffleHosts: false, reconnectDelay: { min: 20, max: 200 } });
  await zk.connect();
  const c: Contender = { name, zk, lock: new DistributedLock(zk, path), held: [], events: [] };
  const open = () => c.held.push({ from: performance.now() });
  const close = () => {
    const last = c.held.at(-1);
    if (last !== undefined && last.to === undefined) last.to = performance.now();
  };
  for (const event of ['acquired', 'resumed'] as const) c.lock.on(event, () => (c.events.push(event), open()));
  for (const event of ['suspended', 'lost', 'released'] as const) c.lock.on(event, () => (c.events.push(event), close()));
  contenders.push(c);
  return c;
}

/** No two contenders' holding intervals overlap. */
function expectOneHolderAtATime(all: Contender[]): void {
  const intervals = all.flatMap((c) => c.held.map((h) => ({ name: c.name, from: h.from, to: h.to ?? Infinity })));
  intervals.sort((x, y) => x.from - y.from);
  for (let i = 1; i < intervals.length; i++) {
    const [before, after] = [intervals[i - 1]!, intervals[i]!];
    if (before.name === after.name) continue;
    expect(after.from, `${after.name} took the lock while ${before.name} still held it`).toBeGreaterThanOrEqual(before.to);
  }
}

/** The server `zk` is connected to, through its proxy. */
function serverOf(zk: ZooKeeperClient): number {
  return cluster.servers.find((s) => s.connectString === zk.currentServer)!.id;
}

describe('DistributedLock on a three-server zkts cluster', () => {
  it('keeps the lock when the holder’s server is killed: the holder moves to another server within its session and nobody else gets in', async () => {
    const leader = await cluster.waitForLeader();
    const order = [leader, ...cluster.servers.map((s) => s.id).filter((id) => id !== leader)];
    const [a, b] = await contenders2({
      a: { connectString: order.map((id) => cluster.server(id).connectString).join(','), sessionTimeout: 8_000 },
      b: { connectString: cluster.connectString },
    });
    await a.lock.acquire();
    const bAcquired = b.lock.acquire();
    expect(serverOf(a.zk)).toBe(leader);

    await cluster.kill(leader);
    await waitFor('the holder to resume on another server', () => a.events.includes('resumed') && a.lock.isHeld, { timeoutMs: 8_000 });
    expect(a.events).toEqual(['acquired', 'suspended', 'resumed']);
    expect(serverOf(a.zk)).not.toBe(leader);
    expect(b.lock.isHeld).toBe(false);

    await a.lock.release();
    await bAcquired;
    expect(b.lock.isHeld).toBe(true);
    expectOneHolderAtATime([a, b]);
  });

  it('hands the lock on when the holder’s session is expired, and the holder knows it lost the lock before the next one holds it', async () => {
    const [a, b] = await contenders2({ a: { connectString: cluster.connectString, sessionTimeout: 8_000 }, b: { connectString: cluster.connectString } });
    await a.lock.acquire();
    const bAcquired = b.lock.acquire();

    await cluster.expireSession(a.zk.sessionId);
    await bAcquired;
    await waitFor('the old holder to learn its session expired', () => a.events.includes('lost'));
    expect(a.lock.isHeld).toBe(false);
    expect(b.lock.isHeld).toBe(true);
    expectOneHolderAtATime([a, b]);
  });

  it('does not resume a lock whose node went while the holder was disconnected: it reports the lock lost', async () => {
    const path = `/locks/lock-${++lockCount}`;
    const a = await contender('A', cluster.server(1).connectString, 8_000, path);
    await a.zk.create(path);
    await a.lock.acquire();

    cluster.net(1).reset();
    await waitFor('the holder to be suspended', () => a.events.includes('suspended'));
    const admin = createClient(cluster.directConnectString);
    try {
      await admin.connect();
      const [node] = await admin.getChildren(path);
      await admin.delete(`${path}/${node}`);
    } finally {
      await admin.close();
    }

    cluster.net(1).heal();
    await waitFor('the holder to learn its node is gone', () => a.events.includes('lost'), { timeoutMs: 8_000 });
    expect(a.events).toEqual(['acquired', 'suspended', 'lost']);
    expect(a.zk.state).toBe('SYNC_CONNECTED');
    expect(a.lock.isHeld).toBe(false);
  });

  it('hands the lock on when the holder’s connection is blackholed past its session timeout: the holder stops first, and learns it lost once the network heals', async () => {
    const sessionTimeout = 2_000;
    const holderServer = 1;
    const [a, b] = await contenders2({
      // The holder can reach one server only, through its proxy; the other contender goes around the proxies.
      a: { connectString: cluster.server(holderServer).connectString, sessionTimeout },
      b: { connectString: cluster.directConnectString },
    });
    await a.lock.acquire();
    const bAcquired = b.lock.acquire();

    cluster.net(holderServer).blackhole();
    await bAcquired;
    expect(a.events).toEqual(['acquired', 'suspended']);
    expect(a.lock.isHeld).toBe(false);

    cluster.net(holderServer).heal();
    await waitFor('the old holder to learn its session expired', () => a.events.includes('lost'), { timeoutMs: 10_000 });
    expect(a.zk.state).toBe('EXPIRED');
    expect(b.lock.isHeld).toBe(true);
    expectOneHolderAtATime([a, b]);
  });
});
