// node-zookeeper-client 1.1.3 (pure JavaScript, npm), unmodified. It sends
// the 44-byte ConnectRequest without the readOnly byte, so every test here also
// checks that the server answers such old-style clients.
import { createHash } from 'node:crypto';
import zk, { type ACL, type Client, type Event, type Exception, type Option, type Stat } from 'node-zookeeper-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../src/faults/index.js';
import { dumpServerLogOnFailure, startServer, waitFor, withDeadline, type ServerHandle } from './harness.js';

type ZkError = Error | Exception;
// The package's types leave a multi's results untyped; these are the fields it fills in.
interface OpResult {
  type: number;
  err?: number;
  path?: string;
}

const OPEN = [new zk.ACL(31, new zk.Id('world', 'anyone'))];
const NODE_CREATED = 1;
const NODE_DELETED = 2;
const NODE_DATA_CHANGED = 3;
const NODE_CHILDREN_CHANGED = 4;

let server: ServerHandle | undefined;
const srv = (): ServerHandle => {
  if (server === undefined) throw new Error('server not started');
  return server;
};
const clients: Client[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  server = await startServer();
});
afterEach(async () => {
  for (const client of clients.splice(0)) {
    // node-zookeeper-client 1.1.3 misreads a ConnectResponse that arrives after close() was
    // called mid-handshake (it parses it as a reply and throws), so let handshakes finish first.
    const manager = (client as unknown as { connectionManager?: { state: number } }).connectionManager;
    const connecting = 1;
    await waitFor('a client handshake to finish', () => manager?.state !== connecting, { timeoutMs: 5_000, intervalMs: 10 }).catch(() => undefined);
    client.close();
  }
  for (const proxy of proxies.splice(0)) await proxy.close();
});
afterAll(async () => {
  await server?.stop();
});
dumpServerLogOnFailure(() => server);

async function connect(options: Partial<Option> = {}, connectString = srv().connectString): Promise<Client> {
  const client = zk.createClient(connectString, { sessionTimeout: 30_000, spinDelay: 100, retries: 0, ...options });
  clients.push(client);
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  await withDeadline(connected, 15_000, 'node-zookeeper-client to connect');
  return client;
}

/** Calls a callback-style method and returns [error, ...results]. */
function call<T extends unknown[]>(fn: (cb: (error: ZkError | null, ...rest: T) => void) => void): Promise<[ZkError | null, ...T]> {
  return withDeadline(
    new Promise<[ZkError | null, ...T]>((resolve) => fn((error, ...rest) => resolve([error, ...rest]))),
    15_000,
    'a node-zookeeper-client reply',
  );
}

async function must<T extends unknown[]>(fn: (cb: (error: ZkError | null, ...rest: T) => void) => void): Promise<T> {
  const [error, ...rest] = await call(fn);
  if (error) throw new Error(`unexpected ZooKeeper error ${errorCode(error)}: ${error.message}`);
  return rest as unknown as T;
}

async function code(fn: (cb: (error: ZkError | null) => void) => void): Promise<number> {
  const [error] = await call(fn);
  return errorCode(error);
}

/** A reply's ZooKeeper error code, 0 for success; an error that is no ZooKeeper error fails the test. */
function errorCode(error: ZkError | null): number {
  if (error === null) return 0;
  if (error instanceof zk.Exception) return error.getCode();
  throw error;
}

/** Collects watch events pushed to it. */
function collector(): { events: Array<[number, string]>; watcher: (event: Event) => void } {
  const events: Array<[number, string]> = [];
  return { events, watcher: (event) => events.push([event.type, event.path]) };
}

describe('node-zookeeper-client: node types', () => {
  it('creates persistent, ephemeral and sequential nodes with 10-digit suffixes', async () => {
    const c = await connect();
    const [base] = await must<[string]>((cb) => c.create('/nzk', null, OPEN, 0, cb));
    expect(base).toBe('/nzk');
    expect(await must<[string]>((cb) => c.create('/nzk/e', Buffer.from('e'), OPEN, zk.CreateMode.EPHEMERAL, cb))).toEqual(['/nzk/e']);
    const [eStat] = await must<[Stat | null]>((cb) => c.exists('/nzk/e', cb));
    expect(eStat?.ephemeralOwner.equals(c.getSessionId())).toBe(true);
    const names: string[] = [];
    for (const mode of [zk.CreateMode.PERSISTENT_SEQUENTIAL, zk.CreateMode.EPHEMERAL_SEQUENTIAL, zk.CreateMode.PERSISTENT_SEQUENTIAL]) {
      const [name] = await must<[string]>((cb) => c.create('/nzk/s-', null, OPEN, mode, cb));
      names.push(name);
    }
    // /nzk/e was the parent's first child creation.
    expect(names).toEqual(['/nzk/s-0000000001', '/nzk/s-0000000002', '/nzk/s-0000000003']);
    expect(await code((cb) => c.create('/nzk/e/child', null, OPEN, 0, cb))).toBe(-108);
    expect(await code((cb) => c.create('/nzk', null, OPEN, 0, cb))).toBe(-110);
    expect(await code((cb) => c.create('/nope/child', null, OPEN, 0, cb))).toBe(-101);
    const [children, stat] = await must<[string[], Stat]>((cb) => c.getChildren('/nzk', cb));
    expect([...children].sort()).toEqual(['e', 's-0000000001', 's-0000000002', 's-0000000003']);
    expect(stat.numChildren).toBe(4);
    expect(stat.cversion).toBe(4);
  });

  it('accepts the container flag on the plain create opcode but refuses TTL and unknown flags', async () => {
    const c = await connect();
    await must((cb) => c.create('/nzk-flags', null, OPEN, 0, cb));
    // node-zookeeper-client passes the mode through as the flags of opcode 1
    // (create). ZooKeeper 3.8 accepts flag 4 there (the node is created; only
    // opcode 19 makes a real container), while TTL flags need opcode 21.
    expect(await code((cb) => c.create('/nzk-flags/c', null, OPEN, 4, cb))).toBe(0);
    const [created] = await must<[Stat | null]>((cb) => c.exists('/nzk-flags/c', cb));
    expect(created?.ephemeralOwner.equals(Buffer.alloc(8))).toBe(true);
    for (const flags of [5, 6, 7, -1]) {
      expect(await code((cb) => c.create(`/nzk-flags/f${flags}`, null, OPEN, flags, cb)), `flags ${flags}`).toBe(-8);
    }
  });

  it('versions setData and delete', async () => {
    const c = await connect();
    await must((cb) => c.create('/nzk-v', Buffer.from('0'), OPEN, 0, cb));
    const [stat] = await must<[Stat]>((cb) => c.setData('/nzk-v', Buffer.from('1'), 0, cb));
    expect(stat.version).toBe(1);
    expect(await code((cb) => c.setData('/nzk-v', Buffer.from('2'), 0, cb))).toBe(-103);
    expect(await code((cb) => c.remove('/nzk-v', 0, cb))).toBe(-103);
    expect(await code((cb) => c.remove('/nzk-v', 1, cb))).toBe(0);
    expect(await code((cb) => c.remove('/nzk-v', -1, cb))).toBe(-101);
  });
});

describe('node-zookeeper-client: watches', () => {
  it('fires data, exists and child watches once with the exact event type and path', async () => {
    const watching = await connect();
    const writer = await connect();
    await must((cb) => writer.create('/nzw', null, OPEN, 0, cb));
    await must((cb) => writer.create('/nzw/d', Buffer.from('0'), OPEN, 0, cb));
    const data = collector();
    const exists = collector();
    const child = collector();
    const deleted = collector();
    await must((cb) => watching.getData('/nzw/d', data.watcher, cb));
    const [missing] = await must<[Stat | null]>((cb) => watching.exists('/nzw/new', exists.watcher, cb));
    expect(missing).toBeNull();
    await must((cb) => watching.getChildren('/nzw', child.watcher, cb));

    await must((cb) => writer.setData('/nzw/d', Buffer.from('1'), -1, cb));
    await must((cb) => writer.create('/nzw/new', null, OPEN, 0, cb));
    await waitFor('three watch events', () => data.events.length >= 1 && exists.events.length >= 1 && child.events.length >= 1);
    expect(data.events).toEqual([[NODE_DATA_CHANGED, '/nzw/d']]);
    expect(exists.events).toEqual([[NODE_CREATED, '/nzw/new']]);
    // Both changes touched /nzw's children once (create of /nzw/new); the
    // one-shot child watch fired once.
    expect(child.events).toEqual([[NODE_CHILDREN_CHANGED, '/nzw']]);

    await must((cb) => watching.exists('/nzw/new', deleted.watcher, cb));
    await must((cb) => writer.setData('/nzw/d', Buffer.from('2'), -1, cb));
    await must((cb) => writer.remove('/nzw/new', -1, cb));
    await waitFor('NodeDeleted', () => deleted.events.length >= 1);
    expect(deleted.events).toEqual([[NODE_DELETED, '/nzw/new']]);
    // Fired watches are gone: the second setData fired nothing, and the
    // NodeDeleted above was delivered after it on the same connection.
    expect(data.events).toHaveLength(1);
    expect(child.events).toHaveLength(1);
  });
});

describe('node-zookeeper-client: ACLs', () => {
  it('digest auth grants access; other clients get NOAUTH per op', async () => {
    const owner = await connect();
    owner.addAuthInfo('digest', Buffer.from('erin:pw-erin'));
    const stranger = await connect();
    const digest = `erin:${createHash('sha1').update('erin:pw-erin').digest('base64')}`;
    const acl = [new zk.ACL(31, new zk.Id('digest', digest))];
    await must((cb) => owner.create('/nza', Buffer.from('top'), acl, 0, cb));
    await must((cb) => owner.create('/nza/child', null, OPEN, 0, cb));
    const [acls] = await must<[ACL[]]>((cb) => owner.getACL('/nza', cb));
    expect(acls.map((a) => [a.permission, a.id.scheme, a.id.id])).toEqual([[31, 'digest', digest]]);
    const [data] = await must<[Buffer]>((cb) => owner.getData('/nza', cb));
    expect(data.toString()).toBe('top');

    expect(await code((cb) => stranger.getData('/nza', cb))).toBe(-102);
    expect(await code((cb) => stranger.setData('/nza', Buffer.from('x'), -1, cb))).toBe(-102);
    expect(await code((cb) => stranger.getChildren('/nza', cb))).toBe(-102);
    expect(await code((cb) => stranger.create('/nza/x', null, OPEN, 0, cb))).toBe(-102);
    expect(await code((cb) => stranger.remove('/nza/child', -1, cb))).toBe(-102);
    expect(await code((cb) => stranger.setACL('/nza', OPEN, -1, cb))).toBe(-102);
    expect(await code((cb) => stranger.getACL('/nza', cb))).toBe(-102);
    // setACL by the owner opens it up; aversion counts.
    const [stat] = await must<[Stat]>((cb) => owner.setACL('/nza', OPEN, 0, cb));
    expect(stat.aversion).toBe(1);
    expect(await code((cb) => stranger.getData('/nza', cb))).toBe(0);
    expect(await code((cb) => owner.setACL('/nza', OPEN, 0, cb))).toBe(-103);
  });
});

describe('node-zookeeper-client: multi', () => {
  it('applies all ops or none and reports the failing op', async () => {
    const c = await connect();
    await must((cb) => c.create('/nzm', Buffer.from('0'), OPEN, 0, cb));
    const [okResults] = await must<[OpResult[]]>((cb) =>
      c.transaction().create('/nzm/a', Buffer.from('a'), OPEN, 0).setData('/nzm', Buffer.from('1'), 0).check('/nzm/a', 0).remove('/nzm/a', 0).commit(cb),
    );
    expect(okResults.map((r) => r.type)).toEqual([1, 5, 13, 2]);

    const [error, results] = await call<[OpResult[]]>((cb) =>
            // (This client turns version 0 into -1, so a wrong non-zero version.)
      c.transaction().create('/nzm/b', null, OPEN, 0).check('/nzm', 5).create('/nzm/c', null, OPEN, 0).commit(cb),
    );
    expect(errorCode(error), `error ${String(error)} results ${JSON.stringify(results)}`).toBe(-103);
    expect(results.map((r) => [r.type, r.err])).toEqual([
      [-1, 0],
      [-1, -103],
      [-1, -2],
    ]);
    const [b] = await must<[Stat | null]>((cb) => c.exists('/nzm/b', cb));
    expect(b).toBeNull();
  });
});

describe('node-zookeeper-client: sessions', () => {
  it('resumes a session by id and password and keeps its ephemerals', async () => {
    // The first client goes through a proxy that is then cut, so it neither
    // closes the session nor competes for it afterwards.
    const proxy = await TcpProxy.start({ upstream: { port: srv().port } });
    proxies.push(proxy);
    const first = await connect({}, proxy.connectString);
    await must((cb) => first.create('/nzs-eph', null, OPEN, zk.CreateMode.EPHEMERAL, cb));
    const sessionId = first.getSessionId();
    const password = first.getSessionPassword();
    const disconnected = new Promise<void>((resolve) => first.once('disconnected', () => resolve()));
    proxy.reset();
    await withDeadline(disconnected, 15_000, 'the first client to notice the cut');
    const second = await connect({ sessionId, sessionPassword: password });
    expect(second.getSessionId().equals(sessionId)).toBe(true);
    const [stat] = await must<[Stat | null]>((cb) => second.exists('/nzs-eph', cb));
    expect(stat?.ephemeralOwner.equals(sessionId)).toBe(true);
  });

  it('expires a session whose client went silent and deletes its ephemerals', async () => {
    const proxy = await TcpProxy.start({ upstream: { port: srv().port } });
    proxies.push(proxy);
    const victim = await connect({ sessionTimeout: 1_000 }, proxy.connectString);
    expect(victim.getSessionTimeout()).toBe(1_000);
    await must((cb) => victim.create('/nzs-victim', null, OPEN, zk.CreateMode.EPHEMERAL, cb));
    const observer = await connect();
    const gone = collector();
    await must((cb) => observer.exists('/nzs-victim', gone.watcher, cb));
    const cutAt = Date.now();
    proxy.reset();
    await waitFor('the ephemeral to be deleted by expiry', () => gone.events.length > 0, { timeoutMs: 10_000 });
    expect(gone.events).toEqual([[NODE_DELETED, '/nzs-victim']]);
    // Not when the socket closed, but once the timeout ran out.
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(500);
    // Back through the proxy, the client learns its session expired.
    const expired = new Promise<void>((resolve) => victim.once('expired', () => resolve()));
    proxy.heal();
    await withDeadline(expired, 15_000, 'the victim to learn of its expiry');
  });

  it('reports EXPIRED for a wrong password', async () => {
    const first = await connect();
    const sessionId = first.getSessionId();
    const wrong = Buffer.from(first.getSessionPassword());
    wrong[0] ^= 0x5a;
    if (server === undefined) throw new Error('server not started');
    const bad = zk.createClient(server.connectString, { sessionTimeout: 30_000, sessionId, sessionPassword: wrong, spinDelay: 100 });
    clients.push(bad);
    const expired = new Promise<void>((resolve) => bad.once('expired', () => resolve()));
    bad.connect();
    await withDeadline(expired, 15_000, 'the expired event');
    expect(bad.getState().name).toBe('EXPIRED');
  });

  it('negotiates the session timeout within min/max bounds', async () => {
    const low = await connect({ sessionTimeout: 100 });
    expect(low.getSessionTimeout()).toBe(400); // minSessionTimeout
    const high = await connect({ sessionTimeout: 600_000 });
    expect(high.getSessionTimeout()).toBe(60_000); // maxSessionTimeout
  });
});
