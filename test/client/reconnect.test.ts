import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ZooKeeperClient } from '../../src/client/index.js';
import { ClientPool, EventLog, expectCode } from './helpers.js';
import { TcpProxy } from '../../src/faults/index.js';
import { startServer, targets, waitFor, type TestServer } from './servers.js';
import { scaled } from '../../src/testing/wait.js';

describe.each(targets())('reconnection and expiry against %s', (target) => {
  let server: TestServer;
  let proxy: TcpProxy;
  const pool = new ClientPool();
  let direct: ZooKeeperClient;
  let n = 0;

  beforeAll(async () => {
    server = await startServer(target);
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await pool.closeAll();
    await proxy?.close();
  });

  async function setup(sessionTimeout = 4000): Promise<{ zk: ZooKeeperClient; b: string }> {
    n++;
    proxy = await TcpProxy.start({ upstream: { port: server.port } });
    direct = await pool.connected(server.connectString);
    await direct.create(`/rc${n}`);
    const zk = await pool.connected(proxy.connectString, { sessionTimeout, reconnectDelay: { min: 20, max: 200 } });
    return { zk, b: `/rc${n}` };
  }

  function statesOf(zk: ZooKeeperClient): string[] {
    return pool.stateNames(zk);
  }

  it('a cut connection resumes the same session; ephemerals survive; in-flight requests fail with CONNECTIONLOSS and are not retried', async () => {
    const { zk, b } = await setup();
    const session = zk.sessionId;
    await zk.create(`${b}/eph`, 'e', { mode: 'EPHEMERAL' });
    proxy.blackhole();
    const inFlight = [zk.create(`${b}/never`, 'x'), zk.getData(`${b}/eph`), zk.setData(`${b}/eph`, 'y')];
    const settled = Promise.allSettled(inFlight);
    await new Promise((r) => setImmediate(r));
    proxy.cut();
    proxy.heal();
    const results = await settled;
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason.codeName).toBe('CONNECTIONLOSS');
      expect((r as PromiseRejectedResult).reason.code).toBe(-4);
    }
    await waitFor('reconnect', () => zk.state === 'SYNC_CONNECTED' && statesOf(zk).includes('DISCONNECTED'));
    expect(zk.sessionId).toBe(session);
    expect(statesOf(zk)).toEqual(['CONNECTING', 'SYNC_CONNECTED', 'DISCONNECTED', 'CONNECTING', 'SYNC_CONNECTED']);
    expect((await direct.exists(`${b}/eph`))?.ephemeralOwner).toBe(session);
    expect(await zk.exists(`${b}/never`)).toBeNull();
    expect((await zk.getData(`${b}/eph`)).data!.toString()).toBe('e');
  });

  it('changes made while disconnected fire the watches after reconnect (setWatches with lastZxid)', async () => {
    const { zk, b } = await setup();
    await direct.create(`${b}/data`, '1');
    await direct.create(`${b}/parent`);
    await direct.create(`${b}/steady`, 's');
    const dataLog = new EventLog();
    const existLog = new EventLog();
    const childLog = new EventLog();
    const steadyLog = new EventLog();
    await zk.getData(`${b}/data`, { watch: dataLog.listener });
    await zk.exists(`${b}/born`, { watch: existLog.listener });
    await zk.getChildren(`${b}/parent`, { watch: childLog.listener });
    await zk.getData(`${b}/steady`, { watch: steadyLog.listener });
    proxy.blackhole();
    proxy.cut();
    await waitFor('disconnect', () => zk.state !== 'SYNC_CONNECTED');
    await direct.setData(`${b}/data`, '2');
    await direct.create(`${b}/born`);
    await direct.create(`${b}/parent/kid`);
    expect(dataLog.events).toEqual([]);
    proxy.heal();
    await dataLog.waitForCount(1, 'data watch after reconnect');
    await existLog.waitForCount(1, 'exist watch after reconnect');
    await childLog.waitForCount(1, 'child watch after reconnect');
    expect(dataLog.summary()).toEqual([`NodeDataChanged ${b}/data`]);
    expect(existLog.summary()).toEqual([`NodeCreated ${b}/born`]);
    expect(childLog.summary()).toEqual([`NodeChildrenChanged ${b}/parent`]);
    // The unchanged node's watch was re-registered, not fired, and still works.
    expect(steadyLog.events).toEqual([]);
    await direct.setData(`${b}/steady`, 't');
    await steadyLog.waitForCount(1);
    expect(steadyLog.summary()).toEqual([`NodeDataChanged ${b}/steady`]);
  });

  it('persistent watches and credentials are restored on the new connection (setWatches2, auth)', async () => {
    const { zk, b } = await setup();
    await zk.addAuthInfo('digest', 'bob:pw');
    await zk.create(`${b}/secret`, 's', { acl: [{ perms: 31, id: { scheme: 'auth', id: '' } }] });
    const log = new EventLog();
    await zk.addWatch(`${b}`, 'PERSISTENT_RECURSIVE', log.listener);
    proxy.cut();
    await waitFor('reconnect', () => zk.state === 'SYNC_CONNECTED' && statesOf(zk).includes('DISCONNECTED'));
    expect((await zk.getData(`${b}/secret`)).data!.toString()).toBe('s');
    expect(await zk.whoAmI()).toEqual(expect.arrayContaining([{ authScheme: 'digest', user: 'bob' }]));
    await direct.create(`${b}/x`);
    await direct.create(`${b}/x/y`);
    await log.waitForCount(2);
    expect(log.summary()).toEqual([`NodeCreated ${b}/x`, `NodeCreated ${b}/x/y`]);
  });

  it('a stalled server is declared lost after the read timeout (2/3 of the session timeout) and the session resumes', async () => {
    const { zk, b } = await setup(6000);
    expect(zk.sessionTimeout).toBe(6000);
    const session = zk.sessionId;
    await zk.create(`${b}/e`, '', { mode: 'EPHEMERAL' });
    const stalledAt = Date.now();
    proxy.blackhole();
    await waitFor('read timeout', () => zk.state !== 'SYNC_CONNECTED', { timeoutMs: 8000 });
    const detectedAfter = Date.now() - stalledAt;
    expect(detectedAfter).toBeGreaterThanOrEqual(3000); // pings kept it alive until the stall
    expect(detectedAfter).toBeLessThan(scaled(6000));
    const pending = zk.exists(`${b}/e`).then((st) => st !== null, (e: Error & { codeName: string }) => e.codeName);
    proxy.heal();
    await waitFor('reconnect after the stall', () => zk.state === 'SYNC_CONNECTED', { timeoutMs: 8000 });
    expect(zk.sessionId).toBe(session);
    // Issued while disconnected: either sent on the new connection or failed with the old one.
    expect([true, 'CONNECTIONLOSS']).toContain(await pending);
    expect(await direct.exists(`${b}/e`)).not.toBeNull();
  });

  it('a stall longer than the session timeout ends in EXPIRED and the client stops', async () => {
    const { zk, b } = await setup(2000);
    await zk.create(`${b}/e`, '', { mode: 'EPHEMERAL' });
    const watchLog = new EventLog();
    await zk.exists(`${b}/e`, { watch: watchLog.listener });
    proxy.blackhole();
    await waitFor('disconnect', () => zk.state !== 'SYNC_CONNECTED', { timeoutMs: 5000 });
    // The server forgets the session once its timeout passes without a packet from it.
    await waitFor('the ephemeral to go', async () => (await direct.exists(`${b}/e`)) === null, { timeoutMs: 10_000, intervalMs: 100 });
    const queued = zk.getData(`${b}/e`).then(() => 'ok', (e: Error & { codeName: string }) => e.codeName);
    proxy.heal();
    await waitFor('EXPIRED', () => zk.state === 'EXPIRED', { timeoutMs: 8000 });
    const expired = pool.states.get(zk)!.find((s) => s.state === 'EXPIRED')!;
    expect(expired.at).toBeGreaterThan(0);
    expect(expired.reason).toMatch(/expired/);
    // Queued while disconnected: it fails with the attempt that carries it (never sent twice).
    expect(['SESSIONEXPIRED', 'CONNECTIONLOSS']).toContain(await queued);
    await expectCode(zk.getData('/'), 'SESSIONEXPIRED');
    const accepted = proxy.accepted;
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.accepted).toBe(accepted); // no more reconnect attempts
    expect(watchLog.events).toEqual([]);
    await zk.close();
    expect(zk.state).toBe('EXPIRED');
  });

  it('a second client resumes a session with its id and password; a dead session is EXPIRED', async () => {
    const { zk, b } = await setup();
    await zk.create(`${b}/e`, '', { mode: 'EPHEMERAL' });
    // The first client goes silent: the server closes its connection once the twin takes the
    // session, and a first client that could reconnect would take it back in turn, closing the
    // twin's connection under its next request (seen against zookeeper on a loaded machine).
    proxy.blackhole();
    const twin = pool.make(server.connectString, { sessionId: zk.sessionId, sessionPassword: zk.sessionPassword });
    await twin.connect();
    expect(twin.sessionId).toBe(zk.sessionId);
    expect(await twin.getEphemerals(b)).toEqual([`${b}/e`]);
    const wrong = pool.make(server.connectString, { sessionId: 0x1234n, sessionPassword: Buffer.alloc(16, 7) });
    await expectCode(wrong.connect(), 'SESSIONEXPIRED');
    expect(wrong.state).toBe('EXPIRED');
  });
});

describe('server restart on the same port and dataDir (zookeeper, two servers)', () => {
  const pool = new ClientPool();
  let a: TestServer;
  let fresh: TestServer;

  beforeAll(async () => {
    const target = targets()[0] ?? 'zookeeper';
    [a, fresh] = await Promise.all([startServer(target), startServer(target)]);
  });
  afterAll(async () => {
    await pool.closeAll();
    await Promise.all([a?.stop(), fresh?.stop()]);
  });

  it('resumes the session after a restart, skipping a server that is behind our zxid', async () => {
    const freshProxy = await TcpProxy.start({ upstream: { port: fresh.port } });
    const zk = await pool.connected(`${a.connectString},${freshProxy.connectString}`, {
      sessionTimeout: 10_000,
      shuffleHosts: false,
      reconnectDelay: { min: 20, max: 200 },
    });
    expect(zk.currentServer, JSON.stringify(pool.states.get(zk), (k, v) => (typeof v === 'bigint' ? String(v) : v))).toBe(a.connectString);
    const session = zk.sessionId;
    for (let i = 0; i < 5; i++) await zk.create(`/restart${i}`, 'x');
    await zk.create('/restart-eph', '', { mode: 'EPHEMERAL' });
    const log = new EventLog();
    await zk.getData('/restart0', { watch: log.listener });
    await a.restart();
    await waitFor(`reconnect after restart (states ${JSON.stringify(pool.states.get(zk)!.map((c) => [c.state, c.server, c.reason]))})`, () => zk.state === 'SYNC_CONNECTED' && pool.stateNames(zk).includes('DISCONNECTED'), { timeoutMs: 20_000 });
    expect(zk.sessionId).toBe(session);
    expect(zk.currentServer).toBe(a.connectString);
    expect(pool.stateNames(zk).filter((s) => s === 'SYNC_CONNECTED').length).toBe(2);
    expect((await zk.exists('/restart-eph'))?.ephemeralOwner).toBe(session);
    await zk.setData('/restart0', 'y');
    await log.waitForCount(1);
    // The fresh server was tried while the first was down, but it is behind our zxid: it
    // closed every attempt without a reply, and never gave us a session.
    expect(freshProxy.accepted).toBeGreaterThanOrEqual(1);
    await freshProxy.close();
    const other = await pool.connected(fresh.connectString);
    expect(await other.exists('/restart0')).toBeNull();
  });
});
