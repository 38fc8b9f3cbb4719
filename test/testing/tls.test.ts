// zkts/testing with the tls option: TLS clients through the members' fault proxies (the TLS
// bytes pass through unchanged, so the handshake is between client and member) across a
// blackholed member, a killed leader and a restarted server, with certificates openssl made.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClientOptions } from '../../src/client/index.js';
import { TestingCluster, TestingServer } from '../../src/testing/index.js';
import { scaled, waitFor } from '../../src/testing/wait.js';
import { describeProcess, runProcess, systemPython } from '../conformance/harness.js';
import { aliceDn, makeTestCertificates, type TestCertificates } from '../support/certs.js';
import { closeAll, connect, type Tracked } from './clients.js';

const sessionTimeoutMs = 4_000;
const kazooScript = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tls', 'python', 'kazoo_tls.py');

let certs: TestCertificates;
let cluster: TestingCluster;

beforeAll(async () => {
  certs = makeTestCertificates();
  cluster = await TestingCluster.start({ size: 3, tickTime: 100, tls: { keyStore: certs.member.path, trustStore: certs.caPath, clientAuth: 'need' } });
}, scaled(60_000));
afterAll(async () => {
  await cluster?.close();
  certs?.remove();
});
afterEach(async (context) => {
  await closeAll();
  if (context.task.result?.state === 'fail') process.stderr.write(`\n${cluster.logTails(30)}\n`);
});

function tlsOptions(): ClientOptions {
  return { tls: { ca: certs.caPem, cert: certs.alice.cert, key: certs.alice.key }, sessionTimeout: sessionTimeoutMs };
}

/** A TLS client whose first host is server `id`'s secure port (through its proxy), then the others'. */
async function secureClientOn(id: number): Promise<Tracked> {
  const hosts = [cluster.server(id), ...cluster.servers.filter((s) => s.id !== id)].map((s) => s.secureConnectString!);
  const c = await connect(hosts.join(','), tlsOptions());
  expect(c.zk.currentServer).toBe(cluster.server(id).secureConnectString);
  return c;
}

/** The client loses member `id` and resumes its session on another member's secure port, its ephemeral intact. */
async function expectResumedElsewhere(c: Tracked, from: number, id: number, session: bigint, ephemeral: string): Promise<void> {
  await waitFor('DISCONNECTED', () => c.since(from, 'DISCONNECTED').length > 0, { timeoutMs: sessionTimeoutMs });
  const back = await waitFor('the session back elsewhere', () => c.since(from, 'SYNC_CONNECTED')[0], { timeoutMs: sessionTimeoutMs * 2 });
  expect(back.sessionId, c.history()).toBe(session);
  expect(back.server).not.toBe(cluster.server(id).secureConnectString);
  expect(cluster.servers.map((s) => s.secureConnectString)).toContain(back.server);
  expect(await c.zk.exists(ephemeral)).not.toBeNull();
  expect((await c.zk.whoAmI()).map((i) => `${i.authScheme}:${i.user}`)).toContain(`x509:${aliceDn}`);
}

describe('TestingCluster with tls', () => {
  it('gives every member a secure port behind its proxy, next to the plain one', () => {
    const servers = cluster.servers;
    expect(cluster.secureConnectString).toBe(servers.map((s) => s.secureConnectString).join(','));
    for (const s of servers) {
      expect(s.secureConnectString).not.toBe(s.directSecureConnectString);
      expect(s.directSecureConnectString).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(s.secureConnectString?.split(':')[0]).toBe(s.connectString.split(':')[0]);
    }
  });

  it('a TLS client is x509-authenticated through the proxy: the handshake is end to end', async () => {
    const c = await connect(cluster.secureConnectString!, tlsOptions());
    expect((await c.zk.whoAmI()).map((i) => `${i.authScheme}:${i.user}`)).toContain(`x509:${aliceDn}`);
  });

  it('net(id).blackhole(): the TLS client goes DISCONNECTED and resumes its session on another member over TLS', async () => {
    const id = (await cluster.waitForLeader()) === 1 ? 2 : 1;
    const c = await secureClientOn(id);
    const session = c.zk.sessionId;
    await c.zk.create('/tls-bh', 'x', { mode: 'EPHEMERAL' });
    const from = c.states.length;
    cluster.net(id).blackhole();
    try {
      await expectResumedElsewhere(c, from, id, session, '/tls-bh');
    } finally {
      await cluster.heal();
    }
  });

  it('killLeader(): the TLS client on the leader resumes its session on a new leader or follower; the restarted member serves TLS on the same port', async () => {
    const leader = await cluster.waitForLeader();
    const c = await secureClientOn(leader);
    const session = c.zk.sessionId;
    await c.zk.create('/tls-kill', 'x', { mode: 'EPHEMERAL' });
    const before = cluster.server(leader);
    const from = c.states.length;
    expect(await cluster.killLeader()).toBe(leader);
    await expectResumedElsewhere(c, from, leader, session, '/tls-kill');
    await cluster.start(leader);
    const after = cluster.server(leader);
    expect([after.secureConnectString, after.directSecureConnectString]).toEqual([before.secureConnectString, before.directSecureConnectString]);
    const direct = await connect(after.directSecureConnectString!, tlsOptions());
    expect(await direct.zk.exists('/tls-kill')).not.toBeNull();
  });

  it('kazoo (use_ssl=True) connects through the proxies with a certificate and its x509 ACL holds', async () => {
    const result = await runProcess(systemPython, [
      kazooScript, cluster.secureConnectString!, certs.caPath,
      path.join(certs.dir, 'alice.crt'), path.join(certs.dir, 'alice.key'), aliceDn,
      path.join(certs.dir, 'bob.crt'), path.join(certs.dir, 'bob.key'),
    ], { timeoutMs: scaled(90_000) });
    const steps = new Map(result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { step: string; ok: boolean; value?: unknown; error?: string }).map((s) => [s.step, s]));
    const why = describeProcess('kazoo_tls.py', result);
    expect(steps.get('owner.get'), why).toMatchObject({ ok: true, value: 'secret' });
    expect(steps.get('other.get'), why).toMatchObject({ ok: false, error: 'NoAuthError' });
    expect(steps.get('anonymous.start'), why).toMatchObject({ ok: false });
  });
});

describe('TestingServer with tls', () => {
  it('restart(): the TLS client reconnects to the same secure port and keeps its session', async () => {
    await using server = await TestingServer.start({ tls: { keyStore: certs.member.path } });
    expect(server.secureConnectString).not.toBeNull();
    const ports = [server.secureConnectString, server.directSecureConnectString];
    const c = await connect(server.secureConnectString!, { tls: { ca: certs.caPem }, sessionTimeout: sessionTimeoutMs * 2 });
    const session = c.zk.sessionId;
    await c.zk.create('/tls-restart', 'x');
    const from = c.states.length;
    await server.restart();
    expect([server.secureConnectString, server.directSecureConnectString]).toEqual(ports);
    await waitFor('the session back', () => c.since(from, 'SYNC_CONNECTED')[0], { timeoutMs: sessionTimeoutMs * 2 });
    expect(c.zk.sessionId).toBe(session);
    expect(await c.zk.exists('/tls-restart')).not.toBeNull();
  });

  it('refuses a tls option it cannot use, naming it', async () => {
    await expect(TestingServer.start({ tls: { keyStore: '' } })).rejects.toThrow(/tls\.keyStore must be the path/);
    await expect(TestingServer.start({ tls: { keyStore: certs.member.path, clientAuth: 'sometimes' as never } })).rejects.toThrow(/tls\.clientAuth must be one of none, want, need, not sometimes/);
  });

  it('without tls there is no secure port', async () => {
    await using server = await TestingServer.start();
    expect([server.secureConnectString, server.directSecureConnectString, server.info.secureConnectString]).toEqual([null, null, null]);
  });
});
