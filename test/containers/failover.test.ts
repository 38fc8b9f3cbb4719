// A three-member zkts ensemble in containers on a private Docker network (zkts/testcontainers),
// under a workload of several sessions that each hold an ephemeral node and create nodes one
// after another, survives in turn: the leader stopped, the leader killed, the leader paused
// for longer than syncLimit, a follower cut off the ensemble's network and reconnected, and a
// rolling restart. Afterwards every acknowledged create is on every member, and every session
// (none was out of reach for longer than its timeout) still holds its ephemeral node. The
// recovery times are printed; they are figures, not assertions.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { scaled, waitFor } from '../../src/testing/wait.js';
import { startZktsCluster, type ZktsCluster } from '../../src/testing/testcontainers.js';
import { dockerStatus, image, requireDocker } from './docker.js';
import { ackedRoot, Workload } from './workload.js';

const tickTimeMs = 500;
const syncLimitTicks = 4;
/** Granted as asked: the members allow 2 to 20 ticks. */
const sessionTimeoutMs = 8_000;
const writers = 4;
/** How long writes may take to resume after a fault (scaled): an election plus a reconnect. */
const writesResumeTimeoutMs = 20_000;
const logLinesOnFailure = 40;
/** A scenario: faults, elections, container restarts (each a few seconds here). */
const scenarioTimeoutMs = 120_000;

let cluster: ZktsCluster | undefined;
let workload: Workload | undefined;
const recoveries: string[] = [];

const ensemble = (): ZktsCluster => {
  if (cluster === undefined) throw new Error('the ensemble did not start');
  return cluster;
};
const load = (): Workload => {
  if (workload === undefined) throw new Error('the workload did not start');
  return workload;
};

beforeAll(async () => {
  if (!(await dockerStatus()).ok) return;
  cluster = await startZktsCluster({ size: 3, image, settings: { tickTime: tickTimeMs, syncLimit: syncLimitTicks, initLimit: 10 } });
  workload = await Workload.start(cluster.connectString, { writers, sessionTimeoutMs });
}, scaled(120_000));

afterAll(async () => {
  if (recoveries.length > 0) process.stdout.write(`\nzkts in containers, recovery (tickTime ${tickTimeMs} ms, syncLimit ${syncLimitTicks}):\n${recoveries.map((r) => `  ${r}`).join('\n')}\n`);
  try {
    await workload?.close();
  } finally {
    await cluster?.close();
  }
}, scaled(60_000));

// Every scenario starts from the whole ensemble, whatever the one before left behind.
beforeEach(async () => {
  if (cluster === undefined) return;
  await cluster.heal();
  for (const s of cluster.servers) {
    if (s.state === 'paused') await cluster.resume(s.id);
    if (s.state === 'stopped') await cluster.start(s.id);
  }
  await cluster.waitForQuorum();
}, scaled(60_000));

afterEach(async (context) => {
  if (context.task.result?.state !== 'fail' || cluster === undefined) return;
  const c = cluster;
  const logs = await Promise.all(c.servers.map(async (s) => `--- member ${s.id} (${s.state}) ---\n${await c.container(s.id).logTail(logLinesOnFailure).catch((e: Error) => e.message)}`));
  process.stderr.write(`\n=== after failed test "${context.task.name}" ===\n${logs.join('\n')}\n=== end ===\n`);
});

/** Waits until a create sent after `since` has been acknowledged; returns when it was. */
async function writesResumedAfter(since: number): Promise<number> {
  return waitFor(`an acknowledged create sent after ${new Date(since).toISOString()}`, () => load().firstAckOfCreateSentAfter(since), {
    timeoutMs: writesResumeTimeoutMs,
  });
}

/** Watches, from `since` on, for a leader other than `old`; while Docker carries out the fault. */
async function electedAfter(old: number, since: number): Promise<{ leader: number; electedMs: number }> {
  const leader = await ensemble().waitForLeader({ not: [old] });
  return { leader, electedMs: Date.now() - since };
}

function report(what: string, faultAt: number, figures: Record<string, number>): void {
  const at = Date.now();
  const parts = Object.entries(figures).map(([name, ms]) => `${name} ${ms} ms`);
  parts.push(`longest stretch without an acknowledged create ${load().longestWriteGapMs(faultAt, at)} ms`);
  parts.push(`longest session disconnection ${load().longestDisconnectionMs(faultAt, at)} ms`);
  recoveries.push(`${what}: ${parts.join('; ')}`);
}

describe('a three-member zkts ensemble in containers, under a workload of several sessions', () => {
  it('the leader is stopped: another member leads, creates resume, and the stopped member rejoins when started', async (context) => {
    await requireDocker(context);
    const old = await ensemble().waitForLeader();
    const faultAt = Date.now();
    const successor = electedAfter(old, faultAt);
    await ensemble().stop(old);
    const exitedAt = Date.now();
    const { leader, electedMs } = await successor;
    const resumedMs = (await writesResumedAfter(exitedAt)) - exitedAt;
    await ensemble().start(old);
    expect(await ensemble().waitForQuorum()).toBe(leader);
    expect(await ensemble().followers()).toContain(old);
    report(`leader ${old} stopped (SIGTERM)`, faultAt, { 'new leader elected after': electedMs, 'first create sent after it exited acknowledged after': resumedMs, 'whole again after': Date.now() - faultAt });
  }, scaled(scenarioTimeoutMs));

  it('the leader is killed (SIGKILL): another member leads, and the killed one restarts on its data and rejoins', async (context) => {
    await requireDocker(context);
    const old = await ensemble().waitForLeader();
    const faultAt = Date.now();
    const successor = electedAfter(old, faultAt);
    expect(await ensemble().killLeader()).toBe(old);
    const killedAt = Date.now();
    expect(ensemble().servers.find((s) => s.id === old)?.state).toBe('stopped');
    const { leader, electedMs } = await successor;
    const resumedMs = (await writesResumedAfter(killedAt)) - killedAt;
    await ensemble().start(old);
    expect(await ensemble().waitForQuorum()).toBe(leader);
    expect(await ensemble().followers()).toContain(old);
    report(`leader ${old} killed (SIGKILL)`, faultAt, { 'new leader elected after': electedMs, 'first create sent after the kill acknowledged after': resumedMs, 'whole again after': Date.now() - faultAt });
  }, scaled(scenarioTimeoutMs));

  it('the leader is paused for longer than syncLimit: the others elect a leader without it, and it comes back as a follower', async (context) => {
    await requireDocker(context);
    const old = await ensemble().waitForLeader();
    const faultAt = Date.now();
    const successor = electedAfter(old, faultAt);
    await ensemble().pause(old);
    const frozenAt = Date.now();
    // A new leader needs the followers to have given up on the silent one after syncLimit,
    // counted from the last message they heard (up to a tick before the pause).
    const { leader, electedMs } = await successor;
    expect(electedMs).toBeGreaterThanOrEqual((syncLimitTicks - 1) * tickTimeMs);
    const resumedMs = (await writesResumedAfter(frozenAt)) - frozenAt;
    await ensemble().resume(old);
    expect(await ensemble().waitForQuorum()).toBe(leader);
    expect(await ensemble().followers()).toContain(old);
    report(`leader ${old} paused`, faultAt, { 'new leader elected after': electedMs, 'first create sent after the freeze acknowledged after': resumedMs, 'whole again after': Date.now() - faultAt });
  }, scaled(scenarioTimeoutMs));

  it('a follower is cut off the ensemble network: it stops serving, the other two go on, and it catches up when reconnected', async (context) => {
    await requireDocker(context);
    const leader = await ensemble().waitForLeader();
    const follower = (await ensemble().followers())[0]!;
    const faultAt = Date.now();
    await ensemble().isolate(follower);
    expect(ensemble().servers.find((s) => s.id === follower)?.state).toBe('isolated');
    await expect(ensemble().pause(follower)).rejects.toThrow(`member ${follower} is isolated, not running`);
    await waitFor(`member ${follower} to stop serving once cut off`, async () => {
      const srvr = await ensemble().container(follower).fourLetterWord('srvr').catch(() => '');
      return !/^Mode: (leader|follower)$/m.test(srvr);
    }, { timeoutMs: 20_000 });
    const leftMs = Date.now() - faultAt;
    const acked = load().ackedCount;
    await waitFor('creates acknowledged by the two members left', () => load().ackedCount > acked + 50, { timeoutMs: writesResumeTimeoutMs });
    const healAt = Date.now();
    await ensemble().heal();
    expect(await ensemble().waitForQuorum()).toBe(leader);
    const rejoinedMs = Date.now() - healAt;
    await ensemble().assertConverged();
    report(`follower ${follower} cut off, then reconnected`, faultAt, { 'stopped serving after': leftMs, 'back in the quorum after reconnecting': rejoinedMs });
  }, scaled(scenarioTimeoutMs));

  it('a rolling restart, followers first and the leader last: the ensemble keeps a quorum, and creates resume after each restart', async (context) => {
    await requireDocker(context);
    const leader = await ensemble().waitForLeader();
    const order = [...(await ensemble().followers()).sort(), leader];
    expect(order).toHaveLength(3);
    const faultAt = Date.now();
    const figures: Record<string, number> = {};
    for (const id of order) {
      const restartAt = Date.now();
      await ensemble().restart(id);
      await ensemble().waitForQuorum();
      figures[`member ${id} back in the quorum after`] = Date.now() - restartAt;
      await writesResumedAfter(Date.now());
    }
    report(`rolling restart ${order.join(', ')}`, faultAt, figures);
  }, scaled(scenarioTimeoutMs));

  it('afterwards every acknowledged create is on every member, and every session kept its ephemeral node', async (context) => {
    await requireDocker(context);
    await load().stop();
    await ensemble().waitForQuorum();
    await ensemble().assertConverged();
    const acked = load().writers.flatMap((w) => w.acked);
    expect(acked.length).toBeGreaterThan(100);
    for (const w of load().writers) {
      expect(w.expired, `session of ${w.name} expired`).toBe(false);
      expect(w.client.sessionId, `${w.name} is on the session it started with`).toBe(w.sessionId);
    }
    for (const server of ensemble().servers) {
      const reader = createClient(server.connectString, { shuffleHosts: false, sessionTimeout: sessionTimeoutMs });
      try {
        await reader.connect();
        await reader.sync(ackedRoot);
        const present = new Set(await reader.getChildren(ackedRoot));
        const missing = acked.filter((name) => !present.has(name));
        expect(missing.slice(0, 10), `member ${server.id} lacks ${missing.length} of ${acked.length} acknowledged creates`).toEqual([]);
        for (const w of load().writers) {
          const stat = await reader.exists(w.ephemeralPath);
          expect(stat?.ephemeralOwner, `${w.ephemeralPath} on member ${server.id}`).toBe(w.sessionId);
        }
      } finally {
        await reader.close();
      }
    }
    const failures = load().writers.reduce((n, w) => n + w.failures, 0);
    recoveries.push(`${acked.length} creates acknowledged by ${writers} sessions, ${failures} not (connection lost mid-request), all ${acked.length} on each of the 3 members`);
  }, scaled(scenarioTimeoutMs));
});
