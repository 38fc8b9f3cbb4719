import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, MultiError, ZkError, ZooKeeperError, type ZooKeeperClient } from '../../src/client/index.js';
import { ClientPool, expectCode } from './helpers.js';
import { startServer, targets, type TestServer } from './servers.js';
import { scaled } from '../../src/testing/wait.js';

describe.each(targets())('client operations against %s', (target) => {
  let server: TestServer;
  const pool = new ClientPool();
  let zk: ZooKeeperClient;
  let n = 0;
  const base = (): string => `/ops${n}`;

  beforeAll(async () => {
    server = await startServer(target);
  });
  afterAll(async () => {
    await pool.closeAll();
    await server?.stop();
  });
  afterEach(async () => {
    await pool.closeAll();
  });

  async function fresh(): Promise<string> {
    n++;
    zk = await pool.connected(server.connectString);
    await zk.create(base(), 'root');
    return base();
  }

  it('connects, negotiates the timeout and reports states with timestamps', async () => {
    const before = Date.now();
    const client = pool.make(server.connectString, { sessionTimeout: 3000 });
    await client.connect();
    expect(client.sessionId).not.toBe(0n);
    expect(client.sessionIdHex).toMatch(/^0x[0-9a-f]+$/);
    expect(client.sessionTimeout).toBe(3000);
    expect(client.sessionPassword.length).toBe(16);
    const states = pool.states.get(client)!;
    expect(states.map((s) => s.state)).toEqual(['CONNECTING', 'SYNC_CONNECTED']);
    expect(states[1]!.at).toBeGreaterThanOrEqual(before);
    expect(states[1]!.sessionId).toBe(client.sessionId);
    await client.close();
    expect(client.state).toBe('CLOSED');
    await expectCode(client.exists('/'), 'SESSIONEXPIRED');
  });

  it('clamps the session timeout to the server maximum (20 ticks)', async () => {
    const client = await pool.connected(server.connectString, { sessionTimeout: 600_000 });
    expect(client.sessionTimeout).toBe(10_000);
  });

  it('creates, reads, updates and deletes with stats and versions', async () => {
    const b = await fresh();
    const created = await zk.create(`${b}/a`, 'hello');
    expect(created.path).toBe(`${b}/a`);
    expect(created.stat.version).toBe(0);
    expect(created.stat.dataLength).toBe(5);
    const { data, stat } = await zk.getData(`${b}/a`);
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(data!.toString()).toBe('hello');
    expect(stat.czxid).toBe(created.stat.czxid);
    const st = await zk.setData(`${b}/a`, Buffer.from([1, 2, 3]), { version: 0 });
    expect(st.version).toBe(1);
    expect((await zk.getData(`${b}/a`)).data).toEqual(Buffer.from([1, 2, 3]));
    await zk.setData(`${b}/a`, new Uint8Array([9]));
    expect((await zk.getData(`${b}/a`)).data).toEqual(Buffer.from([9]));
    const e = await expectCode(zk.setData(`${b}/a`, 'x', { version: 0 }), 'BADVERSION');
    expect(e).toBeInstanceOf(ZkError);
    expect(e).toBeInstanceOf(ZooKeeperError);
    expect(e.code).toBe(ErrorCode.BADVERSION);
    await expectCode(zk.delete(`${b}/a`, { version: 0 }), 'BADVERSION');
    await zk.delete(`${b}/a`, { version: 2 });
    expect(await zk.exists(`${b}/a`)).toBeNull();
    const s = await zk.exists(b);
    expect(s?.numChildren).toBe(0);
  });

  it('keeps null data distinct from empty data', async () => {
    const b = await fresh();
    await zk.create(`${b}/null`, null);
    await zk.create(`${b}/empty`, '');
    await zk.create(`${b}/default`);
    expect((await zk.getData(`${b}/null`)).data).toBeNull();
    expect((await zk.getData(`${b}/empty`)).data).toEqual(Buffer.alloc(0));
    expect((await zk.getData(`${b}/default`)).data).toEqual(Buffer.alloc(0));
  });

  it('rejects with typed errors and readable messages', async () => {
    const b = await fresh();
    const noNode = await expectCode(zk.getData(`${b}/missing`), 'NONODE');
    expect(noNode.code).toBe(-101);
    expect(noNode.message).toBe(`Node does not exist: ${b}/missing`);
    expect((noNode as ZooKeeperError).path).toBe(`${b}/missing`);
    await zk.create(`${b}/x`);
    const exists = await expectCode(zk.create(`${b}/x`), 'NODEEXISTS');
    expect(exists.code).toBe(-110);
    await zk.create(`${b}/x/y`);
    await expectCode(zk.delete(`${b}/x`), 'NOTEMPTY');
    await expectCode(zk.create(`${b}/nope/child`), 'NONODE');
    const eph = await zk.create(`${b}/eph`, '', { mode: 'EPHEMERAL' });
    await expectCode(zk.create(`${eph.path}/kid`), 'NOCHILDRENFOREPHEMERALS');
    await expectCode(zk.getChildren(`${b}/missing`), 'NONODE');
    await expectCode(zk.delete('/zookeeper'), 'BADARGUMENTS');
    // Invalid paths are refused before anything is sent.
    await expect(() => zk.getData('no-slash')).toThrow(ZkError);
    await expect(() => zk.create(`${b}/trailing/`)).toThrow(/Invalid path/);
  });

  it('creates every mode with the right opcode and stat', async () => {
    const b = await fresh();
    const eph = await zk.create(`${b}/e`, 'x', { mode: 'EPHEMERAL' });
    expect(eph.stat.ephemeralOwner).toBe(zk.sessionId);
    const s1 = await zk.create(`${b}/s-`, '', { mode: 'PERSISTENT_SEQUENTIAL' });
    const s2 = await zk.create(`${b}/s-`, '', { mode: 'EPHEMERAL_SEQUENTIAL' });
    expect(s1.path).toBe(`${b}/s-0000000001`);
    expect(s2.path).toBe(`${b}/s-0000000002`);
    expect(s2.stat.ephemeralOwner).toBe(zk.sessionId);
    const container = await zk.create(`${b}/c`, 'c', { mode: 'CONTAINER' });
    expect(container.path).toBe(`${b}/c`);
    expect(container.stat.ephemeralOwner).toBe(0n);
    const ttl = await zk.create(`${b}/t`, 't', { mode: 'PERSISTENT_WITH_TTL', ttl: 60_000 });
    expect(ttl.stat.ephemeralOwner).toBe(0n);
    const ttlSeq = await zk.create(`${b}/ts-`, 't', { mode: 'PERSISTENT_SEQUENTIAL_WITH_TTL', ttl: 60_000n });
    expect(ttlSeq.path).toMatch(new RegExp(`^${b}/ts-\\d{10}$`));
    await expectCode(zk.create(`${b}/badttl`, 't', { mode: 'PERSISTENT_WITH_TTL', ttl: 0 }), 'BADARGUMENTS');
    expect(() => zk.create(`${b}/t2`, 't', { mode: 'PERSISTENT', ttl: 5 })).toThrow(ZkError);
    const children = await zk.getChildren(b);
    expect(children.sort()).toEqual(['c', 'e', 's-0000000001', 's-0000000002', 't', 'ts-0000000005'].sort());
    const withStat = await zk.getChildrenWithStat(b);
    expect(withStat.stat.numChildren).toBe(6);
    expect(withStat.children.length).toBe(6);
    expect(await zk.getEphemerals(b)).toEqual(expect.arrayContaining([`${b}/e`, `${b}/s-0000000002`]));
    expect((await zk.getEphemerals(b)).length).toBe(2);
    expect(await zk.getAllChildrenNumber(b)).toBe(6);
  });

  it('ephemerals end with the session', async () => {
    const b = await fresh();
    const other = await pool.connected(server.connectString);
    await other.create(`${b}/mine`, '', { mode: 'EPHEMERAL' });
    expect(await zk.exists(`${b}/mine`)).not.toBeNull();
    await other.close();
    expect(await zk.exists(`${b}/mine`)).toBeNull();
  });

  it('handles ACLs, digest auth and whoAmI', async () => {
    const b = await fresh();
    const acl = await zk.getACL(b);
    expect(acl.acl).toEqual([{ perms: 31, id: { scheme: 'world', id: 'anyone' } }]);
    await zk.addAuthInfo('digest', 'alice:secret');
    const who = await zk.whoAmI();
    expect(who).toEqual(expect.arrayContaining([{ authScheme: 'digest', user: 'alice' }, expect.objectContaining({ authScheme: 'ip' })]));
    await zk.create(`${b}/private`, 'p', { acl: [{ perms: 31, id: { scheme: 'auth', id: '' } }] });
    const privateAcl = await zk.getACL(`${b}/private`);
    expect(privateAcl.acl[0]!.id.scheme).toBe('digest');
    expect(privateAcl.acl[0]!.id.id).toMatch(/^alice:/);
    const stranger = await pool.connected(server.connectString);
    await expectCode(stranger.getData(`${b}/private`), 'NOAUTH');
    await stranger.addAuthInfo('digest', 'alice:secret');
    expect((await stranger.getData(`${b}/private`)).data!.toString()).toBe('p');
    await expectCode(zk.setACL(`${b}/private`, [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], { version: 3 }), 'BADVERSION');
    await expectCode(zk.setACL(`${b}/private`, [{ perms: 31, id: { scheme: 'world', id: 'someone' } }]), 'INVALIDACL');
    const st = await zk.setACL(`${b}/private`, [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }], { version: 0 });
    expect(st.aversion).toBe(1);
    // Without ADMIN any more, even the creator cannot change it back.
    await expectCode(zk.setACL(`${b}/private`, [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }]), 'NOAUTH');
    await expectCode(stranger.setData(`${b}/private`, 'w'), 'NOAUTH');
  });

  it('an unknown auth scheme fails the client with AUTH_FAILED', async () => {
    const client = await pool.connected(server.connectString);
    await expectCode(client.addAuthInfo('nosuchscheme', 'x'), 'AUTHFAILED');
    expect(client.state).toBe('AUTH_FAILED');
    await expectCode(client.exists('/'), 'AUTHFAILED');
  });

  it('runs multi and transactions atomically, reporting the failing op', async () => {
    const b = await fresh();
    const results = await zk
      .transaction()
      .create(`${b}/t1`, 'one')
      .create(`${b}/t2-`, 'two', { mode: 'PERSISTENT_SEQUENTIAL' })
      .setData(`${b}/t1`, 'uno', 0)
      .check(`${b}/t1`, 1)
      .commit();
    expect(results.map((r) => r.op)).toEqual(['create', 'create', 'setData', 'check']);
    expect(results[1]).toMatchObject({ op: 'create', path: `${b}/t2-0000000001` });
    expect(results[2]).toMatchObject({ op: 'setData', stat: expect.objectContaining({ version: 1 }) });
    const err = (await expectCode(
      zk.multi([
        { op: 'create', path: `${b}/t3`, data: 'x' },
        { op: 'check', path: `${b}/t1`, version: 7 },
        { op: 'delete', path: `${b}/t1` },
      ]),
      'BADVERSION',
    )) as MultiError;
    expect(err).toBeInstanceOf(MultiError);
    expect(err.index).toBe(1);
    expect(err.path).toBe(`${b}/t1`);
    expect(err.results.map((r) => r.codeName)).toEqual(['OK', 'BADVERSION', 'RUNTIMEINCONSISTENCY']);
    expect(await zk.exists(`${b}/t3`)).toBeNull();
    expect((await zk.getData(`${b}/t1`)).data!.toString()).toBe('uno');
    await zk.multi([
      { op: 'delete', path: `${b}/t1`, version: 1 },
      { op: 'create', path: `${b}/c`, mode: 'CONTAINER' },
      { op: 'create', path: `${b}/ttl`, mode: 'PERSISTENT_WITH_TTL', ttl: 10_000 },
    ]);
    expect(await zk.exists(`${b}/t1`)).toBeNull();
    expect(await zk.exists(`${b}/c`)).not.toBeNull();
  });

  it('runs multiRead with per-op results and errors', async () => {
    const b = await fresh();
    await zk.create(`${b}/r`, 'data');
    await zk.create(`${b}/r/k`);
    const results = await zk.multiRead([
      { op: 'getData', path: `${b}/r` },
      { op: 'getChildren', path: `${b}/r` },
      { op: 'getData', path: `${b}/none` },
    ]);
    expect(results[0]).toMatchObject({ op: 'getData', path: `${b}/r` });
    expect((results[0] as { data: Buffer }).data.toString()).toBe('data');
    expect(results[1]).toEqual({ op: 'getChildren', path: `${b}/r`, children: ['k'] });
    expect(results[2]!.op).toBe('error');
    expect((results[2] as { error: ZkError }).error.codeName).toBe('NONODE');
  });

  it('pipelines hundreds of requests and resolves them in order', async () => {
    const b = await fresh();
    const count = 500;
    const order: number[] = [];
    const creates = Array.from({ length: count }, (_, i) =>
      zk.create(`${b}/p-`, String(i), { mode: 'PERSISTENT_SEQUENTIAL' }).then((r) => {
        order.push(i);
        return r.path;
      }),
    );
    const paths = await Promise.all(creates);
    expect(order).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(paths).toEqual(Array.from({ length: count }, (_, i) => `${b}/p-${String(i).padStart(10, '0')}`));
    const reads = await Promise.all(paths.map((p) => zk.getData(p)));
    expect(reads.map((r) => r.data!.toString())).toEqual(Array.from({ length: count }, (_, i) => String(i)));
    // A mix of successes and failures in flight keeps its order too.
    const mixed = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? zk.exists(paths[i]!) : zk.getData(`${b}/nope${i}`))));
    expect(mixed.map((r) => r.status)).toEqual(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 'fulfilled' : 'rejected')));
  });

  it('syncs and works under a chroot', async () => {
    const b = await fresh();
    expect(await zk.sync(b)).toBe(b);
    const rooted = await pool.connected(`${server.connectString}${b}`);
    const created = await rooted.create('/inside', 'in');
    expect(created.path).toBe('/inside');
    expect((await zk.getData(`${b}/inside`)).data!.toString()).toBe('in');
    expect(await rooted.getChildren('/')).toEqual(['inside']);
    const seq = await rooted.create('/q-', '', { mode: 'EPHEMERAL_SEQUENTIAL' });
    expect(seq.path).toBe('/q-0000000001');
    expect(await rooted.getEphemerals('/')).toEqual(['/q-0000000001']);
    const res = await rooted.transaction().create('/m').delete('/inside').commit();
    expect(res[0]).toMatchObject({ op: 'create', path: '/m' });
    expect(await rooted.sync('/m')).toBe('/m');
  });

  it('fails connect() when no server answers within connectTimeout', async () => {
    const client = pool.make('127.0.0.1:1', { connectTimeout: 500, reconnectDelay: { min: 20, max: 50 } });
    const started = Date.now();
    await expectCode(client.connect(), 'CONNECTIONLOSS');
    expect(Date.now() - started).toBeLessThan(scaled(3000));
    expect(client.state).toBe('CLOSED');
  });
});
