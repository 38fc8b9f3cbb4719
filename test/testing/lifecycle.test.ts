// zkts/testing: members as processes. kill is SIGKILL, stop SIGTERM, pause SIGSTOP, resume
// SIGCONT; start and restart bring a member back on its own data and ports.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemberStartError, TestingCluster, TestingServer } from '../../src/testing/index.js';
import { scaled, waitFor } from '../../src/testing/wait.js';
import { alive, closeAll, connect, eventually } from './clients.js';

let cluster: TestingCluster;

beforeAll(async () => {
  cluster = await TestingCluster.start({ size: 3, tickTime: 100 });
}, scaled(60_000));
afterAll(async () => {
  await cluster?.close();
});
beforeEach(async () => {
  for (const s of cluster.servers) {
    if (s.state === 'paused') await cluster.resume(s.id);
    if (s.state === 'stopped') await cluster.start(s.id, { serving: false });
  }
  await cluster.waitForServing();
  await cluster.waitForLeader();
});
afterEach(async (context) => {
  await closeAll();
  if (context.task.result?.state === 'fail') process.stderr.write(`\n${cluster.logTails(30)}\n`);
});

describe('TestingCluster: members are processes', () => {
  it('starts three members, one leading, each behind its own proxy, all serving', async () => {
    const servers = cluster.servers;
    expect(servers.map((s) => s.id)).toEqual([1, 2, 3]);
    expect(servers.map((s) => s.state)).toEqual(['running', 'running', 'running']);
    expect(servers.map((s) => s.role)).toEqual(['participant', 'participant', 'participant']);
    const leader = cluster.leader()!;
    expect([leader, ...cluster.followers()].sort()).toEqual([1, 2, 3]);
    expect(servers.filter((s) => s.mode === 'leader').map((s) => s.id)).toEqual([leader]);
    expect(cluster.connectString).toBe(servers.map((s) => s.connectString).join(','));
    for (const s of servers) expect(s.connectString).not.toBe(s.directConnectString);
    expect(new Set(servers.map((s) => s.pid)).size).toBe(3);
    const c = await connect(cluster.connectString);
    await c.zk.create('/hello', 'world');
    expect((await c.zk.getData('/hello')).data?.toString()).toBe('world');
    expect(cluster.startTiming!.members).toHaveLength(3);
  });

  it('kill(follower) ends it with SIGKILL; its client moves on; start(id) brings it back on its data', async () => {
    const victim = cluster.followers()[0]!;
    const pid = cluster.server(victim).pid!;
    const c = await connect([victim, ...[1, 2, 3].filter((id) => id !== victim)].map((id) => cluster.server(id).connectString).join(','));
    await c.zk.create('/kill-me', 'before');
    const exits: { id: number; signal: string | null; expected: boolean }[] = [];
    cluster.once('exit', (e) => exits.push(e));
    await cluster.kill(victim);
    expect(alive(pid)).toBe(false);
    expect(cluster.server(victim).state).toBe('stopped');
    expect(exits).toEqual([expect.objectContaining({ id: victim, signal: 'SIGKILL', expected: true })]);
    await eventually('a write after the kill', () => c.zk.setData('/kill-me', 'after'));
    expect(c.zk.currentServer).not.toBe(cluster.server(victim).connectString);
    const directBefore = cluster.server(victim).directConnectString;
    await cluster.start(victim);
    expect(cluster.server(victim).state).toBe('running');
    expect(cluster.server(victim).directConnectString).toBe(directBefore);
    await cluster.assertConverged();
    const reader = await connect(cluster.server(victim).directConnectString);
    expect((await reader.zk.getData('/kill-me')).data?.toString()).toBe('after');
  });

  it('stop(leader) ends it with SIGTERM; a new leader is elected; restart brings it back as a follower', async () => {
    const leader = await cluster.waitForLeader();
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => cluster.once('exit', resolve));
    await cluster.stop(leader);
    expect(await exited).toMatchObject({ code: 0, signal: null });
    const successor = await cluster.waitForLeader({ not: [leader] });
    expect(successor).not.toBe(leader);
    await cluster.restart(leader);
    expect((await cluster.status()).find((s) => s.id === leader)!.mode).toBe('follower');
    await cluster.assertConverged();
  });

  it('killLeader() returns the id it killed, and the others elect a new leader', async () => {
    const leader = cluster.leader();
    const killed = await cluster.killLeader();
    expect(killed).toBe(leader);
    expect(cluster.leader()).toBeUndefined();
    expect(await cluster.waitForLeader()).not.toBe(killed);
  });

  it('pause(leader) freezes it (SIGSTOP): the others elect a new leader; resume (SIGCONT): it steps down and follows', async () => {
    const leader = await cluster.waitForLeader();
    const c = await connect(cluster.connectString);
    await cluster.pause(leader);
    expect(cluster.server(leader).state).toBe('paused');
    expect(readState(cluster.server(leader).pid!)).toBe('T');
    const successor = await cluster.waitForLeader({ not: [leader] });
    await eventually('a write while the old leader is frozen', () => c.zk.create('/while-paused', 'x'));
    await cluster.resume(leader);
    expect(readState(cluster.server(leader).pid!)).not.toBe('T');
    await cluster.waitForServing();
    expect(await cluster.waitForLeader()).toBe(successor);
    await cluster.assertConverged();
  });

  it('a member whose port someone else listens on does not start, and says why; once the port is free it starts', async () => {
    const victim = cluster.followers()[0]!;
    await cluster.kill(victim);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(cluster.server(victim).ports.client, '127.0.0.1', resolve));
    try {
      const failure = await cluster.start(victim).then(() => null, (error: Error) => error);
      expect(failure).toBeInstanceOf(MemberStartError);
      expect((failure as MemberStartError).code).toBe('EADDRINUSE');
      expect(failure!.message).toMatch(new RegExp(`server ${victim} did not start: it failed: config key 'clientPort' = ${cluster.server(victim).ports.client}: .*EADDRINUSE`));
      expect(cluster.server(victim).state).toBe('stopped');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    await cluster.start(victim);
    expect(cluster.server(victim).state).toBe('running');
  });

  it('refuses to act on a member that is not there or not in the right state, naming it', async () => {
    await expect(cluster.kill(9)).rejects.toThrow(/no server 9; the servers are 1, 2, 3/);
    await expect(cluster.resume(1)).rejects.toThrow(/server 1 is running, not paused/);
    await expect(cluster.start(1)).rejects.toThrow(/server 1 is already running/);
  });
});

function readState(pid: number): string {
  return /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]!;
}

describe('closing', () => {
  it('close() kills every member and removes the temporary directory; so does await using', async () => {
    let pids: number[];
    let dir: string;
    {
      await using small = await TestingCluster.start({ size: 1 });
      pids = small.servers.map((s) => s.pid!);
      dir = small.dir;
      expect(pids.every(alive)).toBe(true);
      await small.pause(1);
    }
    await waitFor('the members to be gone', () => pids.every((pid) => !alive(pid)));
    expect(existsSync(dir)).toBe(false);
  });

  it('TestingServer: one standalone server behind a proxy; restart keeps its data, close removes it', async () => {
    const server = await TestingServer.start();
    try {
      expect(server.info.role).toBe('standalone');
      const c = await connect(server.connectString, { sessionTimeout: 10_000 });
      await c.zk.create('/kept', 'yes');
      await server.restart();
      expect((await eventually('a read after the restart', () => c.zk.getData('/kept'))).data?.toString()).toBe('yes');
      server.net.latency(200);
      const start = performance.now();
      await c.zk.exists('/kept');
      expect(performance.now() - start).toBeGreaterThanOrEqual(195);
      server.net.heal();
      const session = c.zk.sessionId;
      await server.expireSession(session);
      await waitFor('EXPIRED', () => c.zk.state === 'EXPIRED');
      await server.stop();
      expect(server.info.state).toBe('stopped');
    } finally {
      await server.close();
    }
    expect(existsSync(server.dir)).toBe(false);
  });
});
