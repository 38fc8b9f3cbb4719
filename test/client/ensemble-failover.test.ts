// The zkts client against a three-process zkts ensemble on loopback: the server it is on dies
// (SIGKILL) or goes silent (a proxy that blackholes), every server is out of reach for longer
// than the session timeout, the leader dies under a follower the client is on, and a server
// that is behind the client's zxid is offered to it. The client must keep ZooKeeper's session
// guarantees across all of that: the same session on another server within the timeout,
// ephemerals and watches intact, in-flight requests failed once and never retried, and a
// clean EXPIRED stop when the session is really gone.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WatchedEvent } from '../../src/client/index.js';
import { Cluster, fourLetterWord, parseSrvr, waitFor, type Member } from '../ensemble/cluster-harness.js';
import { outcome, ProxiedEnsemble, reconnectedAfter, roles, stateReached } from './ensemble-helpers.js';
import { TcpProxy } from '../../src/faults/index.js';
import { startServer, type TestServer } from './servers.js';
import { scaled } from '../../src/testing/wait.js';

/** The session timeout the failover clients ask for (the members grant it as is). */
const sessionTimeoutMs = 4_000;
/** The client declares a silent server lost after 2/3 of the session timeout. */
const readTimeoutMs = Math.floor((sessionTimeoutMs * 2) / 3);
/** Bound on "writes work again" after the leader dies: an election takes well under a second at tickTime 100. */
const writesResumeBoundMs = 10_000;
const connectionLossCode = -4;
const memberLogLinesOnFailure = 60;
const sessionExpiredCode = -112;

let cluster: Cluster | undefined;
let rig: ProxiedEnsemble | undefined;
const ensemble = (): Cluster => {
  if (cluster === undefined) throw new Error('ensemble not started');
  return cluster;
};
const proxied = (): ProxiedEnsemble => {
  if (rig === undefined) throw new Error('proxies not started');
  return rig;
};

beforeAll(async () => {
  cluster = await Cluster.start({ participants: 3, tickTime: 100 });
  rig = await ProxiedEnsemble.start(cluster);
}, scaled(30_000));

afterAll(async () => {
  try {
    await rig?.close();
  } finally {
    await cluster?.destroy();
  }
});

// Every test starts with all three members serving and every proxy forwarding.
beforeEach(async () => {
  proxied().healAll();
  for (const m of ensemble().members) if (!m.running) await ensemble().restart(m);
  await roles(ensemble());
}, scaled(30_000));

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') {
    const logs = cluster?.logTails(memberLogLinesOnFailure) ?? '(no ensemble)';
    process.stderr.write(`\n=== after failed test "${context.task.name}": clients ===\n${rig?.histories() ?? ''}\n=== members ===\n${logs}\n=== end ===\n`);
  }
  await rig?.closeClients();
});

/** The node under `path` as the given member sees it after a sync. */
async function statOn(member: Member, path: string): Promise<{ ephemeralOwner: bigint } | null> {
  const observer = await proxied().on(member);
  await observer.zk.sync(path);
  return observer.zk.exists(path);
}

describe('zkts client failover across a three-member zkts ensemble', () => {
  it('the connected server is killed: DISCONNECTED, then the same session on another server within the session timeout; ephemerals and watches survive; in-flight requests fail with CONNECTIONLOSS and are not retried', async () => {
    const { leader, followers } = await roles(ensemble());
    const [victim, other] = followers as [Member, Member];
    const observer = await proxied().on(other);
    await observer.zk.create('/kill', null);
    await observer.zk.create('/kill/watched', 'v1');
    await observer.zk.create('/kill/seq', null);

    const c = await proxied().connect('c', proxied().proxiedConnectString([victim, other, leader]), { sessionTimeout: sessionTimeoutMs });
    expect(proxied().memberAt(c.zk.currentServer)?.sid).toBe(victim.sid);
    const session = c.zk.sessionId;
    await c.zk.create('/kill/eph', 'mine', { mode: 'EPHEMERAL' });
    const dataEvents: WatchedEvent[] = [];
    const childEvents: WatchedEvent[] = [];
    await c.zk.getData('/kill/watched', { watch: (e) => dataEvents.push(e) });
    await c.zk.getChildren('/kill', { watch: (e) => childEvents.push(e) });

    // The victim gets the creates and acts on them, but its replies never reach the client:
    // once the leader has committed every one of them, the victim dies.
    proxied().proxy(victim).blackhole('downstream');
    const requestCount = 10;
    const creates = Array.from({ length: requestCount }, (_, i) => outcome(c.zk.create('/kill/seq/n-', `request-${i}`, { mode: 'PERSISTENT_SEQUENTIAL' })));
    await waitFor('the creates to be committed', async () => (await observer.zk.getChildren('/kill/seq')).length === requestCount, { timeoutMs: 5_000 });
    // Hold the client away from the survivors (their proxies keep its connect request) until
    // a change has been made through one of them.
    proxied().proxy(other).blackhole();
    proxied().proxy(leader).blackhole();
    const from = c.states.length;
    const killedAt = Date.now();
    await victim.kill();
    // The proxy holds the victim's replies, and so its close too: pass its death on as a reset.
    proxied().proxy(victim).cut();

    // Every create was in flight at the kill: each fails with CONNECTIONLOSS, none is sent again.
    const results = await Promise.all(creates);
    expect(results.map((r) => (r.ok ? 'ok' : r.code))).toEqual(Array.from({ length: requestCount }, () => connectionLossCode));
    await waitFor('DISCONNECTED', () => c.statesSince(from, 'DISCONNECTED').length > 0, { timeoutMs: 5_000 });

    await observer.zk.setData('/kill/watched', 'v2');
    await observer.zk.create('/kill/while-away', null);
    expect(c.zk.state, c.history()).not.toBe('SYNC_CONNECTED');
    expect(dataEvents).toEqual([]);
    proxied().healAll();

    const back = await reconnectedAfter(c, from, sessionTimeoutMs, 'the session back on a survivor');
    expect(back.at - killedAt, c.history()).toBeLessThan(c.zk.sessionTimeout);
    expect(back.sessionId).toBe(session);
    expect(c.zk.sessionId).toBe(session);
    expect([other.sid, leader.sid]).toContain(proxied().memberAt(back.server)?.sid);
    expect(c.stateNames().slice(from), c.history()).toEqual(['DISCONNECTED', 'CONNECTING', 'SYNC_CONNECTED']);

    // The watches were set again on the new server with the last zxid the client had seen,
    // so the changes it missed fire them.
    await waitFor('the missed changes to fire the watches', () => dataEvents.length > 0 && childEvents.length > 0, { timeoutMs: 5_000 });
    expect(dataEvents.map((e) => `${e.type} ${e.path}`)).toEqual(['NodeDataChanged /kill/watched']);
    expect(childEvents.map((e) => `${e.type} ${e.path}`)).toEqual(['NodeChildrenChanged /kill']);

    // The ephemeral is still the session's, on every survivor.
    for (const m of [other, leader]) expect((await statOn(m, '/kill/eph'))?.ephemeralOwner, `ephemeral on server ${m.sid}`).toBe(session);

    // At most once: the creates the client saw fail each made exactly one node, also after
    // the session moved to another server.
    await c.zk.create('/kill/seq/after-', 'after', { mode: 'PERSISTENT_SEQUENTIAL' });
    await observer.zk.sync('/kill/seq');
    const bySequence = (a: string, b: string): number => a.slice(-10).localeCompare(b.slice(-10));
    const children = (await observer.zk.getChildren('/kill/seq')).sort(bySequence);
    const payloads = await Promise.all(children.map(async (name) => (await observer.zk.getData(`/kill/seq/${name}`)).data!.toString()));
    expect(payloads).toEqual([...Array.from({ length: requestCount }, (_, i) => `request-${i}`), 'after']);
  });

  it('the connected server goes silent behind a blackholing proxy: the read timeout notices and the client moves to another server with the same session', async () => {
    const { leader, followers } = await roles(ensemble());
    const [first, second] = followers as [Member, Member];
    const observer = await proxied().on(leader);
    await observer.zk.create('/silent', null);
    const c = await proxied().connect('c', proxied().proxiedConnectString([first, second, leader]), { sessionTimeout: sessionTimeoutMs });
    expect(proxied().memberAt(c.zk.currentServer)?.sid).toBe(first.sid);
    const session = c.zk.sessionId;
    await c.zk.create('/silent/eph', null, { mode: 'EPHEMERAL' });

    const from = c.states.length;
    const silentAt = Date.now();
    proxied().proxy(first).blackhole();
    const back = await reconnectedAfter(c, from, sessionTimeoutMs * 2, 'the session back after the read timeout');
    const lost = c.statesSince(from, 'DISCONNECTED')[0]!;
    // The client pings every third of the timeout, so the last thing it heard is at most
    // that old when the proxy goes silent.
    expect(lost.at - silentAt, c.history()).toBeGreaterThanOrEqual(readTimeoutMs - Math.ceil(sessionTimeoutMs / 3));
    expect(lost.at - silentAt, c.history()).toBeLessThan(sessionTimeoutMs);
    expect(lost.reason).toMatch(/nothing heard/);
    expect(back.sessionId).toBe(session);
    expect(proxied().memberAt(back.server)?.sid).toBe(second.sid);
    await c.zk.create('/silent/after', null);
    // The old connection, still open on the silent server, goes away too: that must not
    // take the session (now owned elsewhere) with it.
    proxied().proxy(first).cut();
    await waitFor('the old connection to close', () => proxied().proxy(first).openConnections === 0, { timeoutMs: 2_000 });
    await c.zk.setData('/silent/after', 'still here');
    expect(c.zk.state).toBe('SYNC_CONNECTED');
    expect((await statOn(first, '/silent/eph'))?.ephemeralOwner).toBe(session);
    expect((await statOn(leader, '/silent/eph'))?.ephemeralOwner).toBe(session);
    expect(await statOn(leader, '/silent/after')).not.toBeNull();
  });

  it('every server out of reach for longer than the session timeout: the session expires on every member, the client reports EXPIRED when it gets through, and stops', async () => {
    const shortTimeoutMs = 3_000;
    const { leader, followers } = await roles(ensemble());
    const order = [...followers, leader];
    const observer = await proxied().on(leader);
    await observer.zk.create('/away', null);
    const c = await proxied().connect('c', proxied().proxiedConnectString(order), { sessionTimeout: shortTimeoutMs });
    const session = c.zk.sessionId;
    await c.zk.create('/away/eph', null, { mode: 'EPHEMERAL' });
    for (const m of ensemble().members) expect((await statOn(m, '/away/eph'))?.ephemeralOwner).toBe(session);

    const from = c.states.length;
    for (const m of order) proxied().proxy(m).blackhole();
    await waitFor('DISCONNECTED', () => c.statesSince(from, 'DISCONNECTED').length > 0, { timeoutMs: shortTimeoutMs });
    for (const m of ensemble().members) {
      await waitFor(`the ephemeral to go from server ${m.sid}`, async () => (await statOn(m, '/away/eph')) === null, { timeoutMs: 15_000, intervalMs: 200 });
    }
    expect(c.zk.state).not.toBe('EXPIRED'); // it has not heard from any server yet

    proxied().healAll();
    const expired = await stateReached(c, 'EXPIRED', 10_000);
    expect(expired.reason).toMatch(/expired/);
    expect(expired.sessionId).toBe(session);
    expect(c.statesSince(from, 'SYNC_CONNECTED'), c.history()).toEqual([]);
    const attempt = await outcome(c.zk.getData('/away'));
    expect(attempt.ok ? 'ok' : attempt.code).toBe(sessionExpiredCode);

    // It stops: no connection stays open and no new one is made while we look again.
    const accepted = order.map((m) => proxied().proxy(m).accepted);
    await waitFor('the client to hold no connection', () => order.every((m) => proxied().proxy(m).openConnections === 0), { timeoutMs: 5_000 });
    for (const m of ensemble().members) expect(await statOn(m, '/away/eph')).toBeNull();
    expect(order.map((m) => proxied().proxy(m).accepted)).toEqual(accepted);
    await c.zk.close();
    expect(c.zk.state).toBe('EXPIRED');
  });

  it('the leader is killed while the client is on a follower: the session survives (kept or resumed elsewhere) and writes succeed again within a bounded time', async () => {
    const { leader, followers } = await roles(ensemble());
    const [first, second] = followers as [Member, Member];
    const observer = await proxied().on(first);
    await observer.zk.create('/leader-gone', null);
    await observer.zk.create('/leader-gone/marker', 'before');
    const c = await proxied().connect('c', proxied().proxiedConnectString([first, second, leader]), { sessionTimeout: sessionTimeoutMs });
    expect(proxied().memberAt(c.zk.currentServer)?.sid).toBe(first.sid);
    const session = c.zk.sessionId;
    await c.zk.create('/leader-gone/eph', null, { mode: 'EPHEMERAL' });

    const from = c.states.length;
    const killedAt = Date.now();
    await leader.kill();
    const newLeader = await ensemble().waitForLeader({ not: [leader] });
    expect([first.sid, second.sid]).toContain(newLeader.sid);

    // setData is idempotent, so retrying it after a CONNECTIONLOSS cannot do harm.
    await waitFor('a write through the client after the leader died', async () => (await outcome(c.zk.setData('/leader-gone/marker', 'after'))).ok, { timeoutMs: writesResumeBoundMs, intervalMs: 50 });
    expect(Date.now() - killedAt).toBeLessThan(scaled(writesResumeBoundMs));
    expect(c.zk.sessionId).toBe(session);
    const since = c.states.slice(from);
    expect(since.filter((s) => s.state === 'EXPIRED' || s.state === 'CLOSED'), c.history()).toEqual([]);
    for (const s of since) expect(s.sessionId).toBe(session);
    if (since.length > 0) expect(since.at(-1)!.state, c.history()).toBe('SYNC_CONNECTED');
    for (const m of [first, second]) {
      expect((await statOn(m, '/leader-gone/eph'))?.ephemeralOwner, `ephemeral on server ${m.sid}`).toBe(session);
      const reader = await proxied().on(m);
      await reader.zk.sync('/leader-gone/marker');
      expect((await reader.zk.getData('/leader-gone/marker')).data?.toString()).toBe('after');
    }
  });

  it('the connected leader is killed: the client resumes the same session on a follower once a new leader is elected; its ephemeral survives', async () => {
    const { leader, followers } = await roles(ensemble());
    const c = await proxied().connect('c', proxied().proxiedConnectString([leader, ...followers]), { sessionTimeout: sessionTimeoutMs });
    expect(proxied().memberAt(c.zk.currentServer)?.sid).toBe(leader.sid);
    const session = c.zk.sessionId;
    await c.zk.create('/leader-conn', null);
    await c.zk.create('/leader-conn/eph', null, { mode: 'EPHEMERAL' });

    const from = c.states.length;
    await leader.kill();
    const back = await reconnectedAfter(c, from, writesResumeBoundMs, 'the session back on a follower');
    expect(back.sessionId).toBe(session);
    expect(followers.map((m) => m.sid)).toContain(proxied().memberAt(back.server)?.sid);
    await waitFor('a write after the failover', async () => (await outcome(c.zk.create('/leader-conn/after', null))).ok || (await c.zk.exists('/leader-conn/after')) !== null, { timeoutMs: writesResumeBoundMs });
    for (const m of followers) expect((await statOn(m, '/leader-conn/eph'))?.ephemeralOwner, `ephemeral on server ${m.sid}`).toBe(session);
  });

  it('a server that is behind the zxid the client has seen is skipped: the client resumes on an ensemble member instead', async () => {
    const { leader, followers } = await roles(ensemble());
    const [first, second] = followers as [Member, Member];
    // A fresh standalone zkts: serving, but its zxid is far behind the ensemble's.
    let fresh: TestServer | undefined;
    let freshProxy: TcpProxy | undefined;
    try {
      fresh = await startServer('zkts', { tickTime: 100 });
      freshProxy = await TcpProxy.start({ upstream: { port: fresh.port } });
      const hosts = `${proxied().proxy(first).connectString},${freshProxy.connectString},${proxied().proxiedConnectString([second, leader])}`;
      const c = await proxied().connect('c', hosts, { sessionTimeout: sessionTimeoutMs });
      expect(proxied().memberAt(c.zk.currentServer)?.sid).toBe(first.sid);
      const session = c.zk.sessionId;
      await c.zk.create('/behind', null);
      for (let i = 0; i < 3; i++) await c.zk.create(`/behind/n${i}`, null);
      const freshZxid = parseSrvr(await fourLetterWord(fresh.port, 'srvr'))!.zxid;
      expect(c.zk.lastZxid).toBeGreaterThan(freshZxid);

      const from = c.states.length;
      await first.kill();
      const back = await reconnectedAfter(c, from, sessionTimeoutMs, 'the session back on an ensemble member');
      expect(back.sessionId).toBe(session);
      expect(proxied().memberAt(back.server)?.sid, c.history()).toBe(second.sid);
      // The fresh server was offered the session and refused it (closed without a reply).
      expect(freshProxy.accepted).toBeGreaterThanOrEqual(1);
      expect(c.states.filter((s) => s.server === freshProxy!.connectString && s.state === 'SYNC_CONNECTED'), c.history()).toEqual([]);
      expect(fresh.output()).toMatch(/client has seen a later zxid than this server; refusing/);
      expect(await c.zk.getChildren('/behind')).toHaveLength(3);
    } finally {
      await freshProxy?.close();
      await fresh?.stop();
    }
  });
});
