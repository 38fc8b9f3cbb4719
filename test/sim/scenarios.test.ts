import { describe, expect, it } from 'vitest';
import type { QuorumEffect } from '../../src/quorum/effects.js';
import { quietFaultPlan } from '../../src/quorum/sim/fault-plan.js';
import type { SimOptions } from '../../src/quorum/sim/sim-types.js';
import { Simulation } from '../../src/quorum/sim/simulation.js';

/** A fault-free cluster with a stable leader; scenarios then inject exactly the faults they name. */
function stableCluster(options: Partial<SimOptions> = {}): { sim: Simulation; leader: number; followers: number[] } {
  const sim = new Simulation({ seed: 7, voters: 3, observers: 0, faults: quietFaultPlan, traceLines: 50, ...options });
  sim.start();
  expect(sim.runUntil(() => sim.stableLeader() !== null, 100)).toBe(true);
  const leader = sim.stableLeader()!;
  const followers = sim.view.voters.filter((sid) => sid !== leader);
  return { sim, leader, followers };
}

/** Records the messages each server sends, by type. */
function recordSends(sim: Simulation): Map<number, string[]> {
  const sent = new Map<number, string[]>();
  sim.onEffect = (sid: number, effect: QuorumEffect) => {
    if (effect.kind !== 'send') return;
    if (!sent.has(sid)) sent.set(sid, []);
    sent.get(sid)!.push(effect.msg.type);
  };
  return sent;
}

function expectConverged(sim: Simulation, ticks = 300): void {
  const ok = sim.runUntil(() => sim.converged(), ticks);
  expect(ok, `did not converge:\n${(sim as unknown as { trace: string[] }).trace.join('\n')}`).toBe(true);
}

describe('ZAB scenarios in the simulator', () => {
  it('a write on any server commits at a quorum and answers on the origin server', () => {
    const { sim, followers } = stableCluster();
    const write = sim.write(followers[0]!);
    expect(sim.runUntil(() => sim.writeStatus(write) === 'acked', 50)).toBe(true);
    expect(sim.writeZxid(write)).toBeTypeOf('bigint');
    expectConverged(sim);
    for (const node of sim.nodes.values()) expect(node.sm.zxid).toBe(sim.writeZxid(write));
  });

  it("two followers' ACKs commit a write while the leader's own fsync is stalled (any quorum, as in ZooKeeper); the leader's log catches up after", () => {
    const { sim, leader, followers } = stableCluster();
    sim.stallFsync(leader, true);
    const write = sim.write(followers[0]!);
    expect(sim.runUntil(() => sim.writeStatus(write) === 'acked', 50)).toBe(true);
    const zxid = sim.writeZxid(write)!;
    expect(sim.node(leader).disk.durableZxid).toBeLessThan(zxid);
    for (const sid of followers) expect(sim.node(sid).disk.durableZxid).toBeGreaterThanOrEqual(zxid);
    sim.stallFsync(leader, false);
    expect(sim.runUntil(() => sim.node(leader).disk.durableZxid >= zxid, 30)).toBe(true);
    expectConverged(sim);
  });

  it('follower crashes after logging a proposal but before its ACK is sent', () => {
    const { sim, leader, followers } = stableCluster();
    const [f1, f2] = followers as [number, number];
    const sent = recordSends(sim);
    sim.stallFsync(f1, true);
    sim.stallFsync(f2, true);
    const write = sim.write(leader);
    expect(sim.runUntil(() => sim.node(f1).peer.lastLoggedZxid > sim.node(f1).disk.durableZxid, 20)).toBe(true);
    sim.runTicks(5);
    // Logged but not durable: no ACK may leave, so nothing can commit.
    expect(sent.get(f1) ?? []).not.toContain('ack');
    expect(sim.writeStatus(write)).toBe('pending');
    sim.crash(f1, false);
    expect(sim.node(f1).disk.lastZxid).toBeLessThan(sim.node(leader).peer.lastLoggedZxid);
    // The other follower's fsync completes: leader + f2 are a quorum and the write commits.
    sim.stallFsync(f2, false);
    expect(sim.runUntil(() => sim.writeStatus(write) === 'acked', 30)).toBe(true);
    sim.restart(f1);
    expectConverged(sim);
    expect(sim.node(f1).sm.zxid).toBe(sim.writeZxid(write));
  });

  it('leader partitioned away steps down within syncLimit ticks', () => {
    const { sim, leader, followers } = stableCluster();
    const oldEpoch = sim.node(leader).peer.epoch;
    sim.partition([[leader], followers]);
    const partitionedAt = sim.tickCount;
    expect(sim.runUntil(() => sim.node(leader).peer.roleName !== 'leading', sim.limits.syncLimitTicks + 2)).toBe(true);
    expect(sim.tickCount - partitionedAt).toBeLessThanOrEqual(sim.limits.syncLimitTicks + 2);
    // The majority side elects a leader of a newer epoch and keeps committing.
    expect(sim.runUntil(() => followers.some((sid) => sim.node(sid).peer.roleName === 'leading' && sim.node(sid).peer.isServing), 100)).toBe(true);
    const newLeader = followers.find((sid) => sim.node(sid).peer.roleName === 'leading')!;
    expect(sim.node(newLeader).peer.epoch).toBeGreaterThan(oldEpoch);
    const write = sim.write(newLeader);
    expect(sim.runUntil(() => sim.writeStatus(write) === 'acked', 30)).toBe(true);
    sim.heal();
    expectConverged(sim);
    expect(sim.stableLeader()).toBe(newLeader);
  });

  it('a batch of proposals acked by one fsync commits at once: that follower applies it on the leader\'s durable point, the stalled one on one COMMIT', () => {
    const { sim, leader, followers } = stableCluster();
    const [f1, f2] = followers as [number, number];
    sim.stallFsync(f1, true);
    sim.stallFsync(f2, true);
    const writes = Array.from({ length: 5 }, () => sim.write(leader));
    const lastProposed = (): bigint => sim.node(leader).peer.leaderRole!.lastProposedZxid;
    const leaderDurable = (): bigint => sim.node(leader).peer.durableZxid;
    expect(sim.runUntil(() => followers.every((sid) => sim.node(sid).peer.lastLoggedZxid === lastProposed()) && leaderDurable() === lastProposed(), 20)).toBe(true);
    const commits: { to: number; zxid: bigint }[] = [];
    const acks: bigint[] = [];
    let appliedBeforeCommit = 0;
    sim.onEffect = (sid, effect) => {
      if (sid === f1 && effect.kind === 'apply' && commits.length === 0) appliedBeforeCommit++;
      if (effect.kind !== 'send') return;
      if (sid === leader && effect.msg.type === 'commit') commits.push({ to: effect.to, zxid: effect.msg.zxid });
      if (sid === f1 && effect.msg.type === 'ack') acks.push(effect.msg.zxid);
    };
    // f1's one fsync covers the five proposals: one ACK. The leader told f1 its own log holds
    // them (a quorum of two), so f1 applies all five before any COMMIT, and only f2 gets one.
    sim.stallFsync(f1, false);
    expect(sim.runUntil(() => writes.every((w) => sim.writeStatus(w) === 'acked'), 30)).toBe(true);
    expect(acks).toEqual([lastProposed()]);
    expect(appliedBeforeCommit).toBe(5);
    expect(commits).toEqual([{ to: f2, zxid: lastProposed() }]);
    // Both followers, the one still stalled included, apply every txn up to it, in order.
    expect(sim.runUntil(() => followers.every((sid) => sim.node(sid).sm.count === 5), 10)).toBe(true);
    sim.stallFsync(f2, false);
    expectConverged(sim);
  });

  it("the leader sends a write's PROPOSALs before logging it; each follower then learns the commit from a COMMIT or the leader's durable point", () => {
    const { sim, leader, followers } = stableCluster();
    for (const origin of followers) {
      const effects: string[] = [];
      sim.onEffect = (sid, effect) => {
        if (sid !== leader) return;
        if (effect.kind === 'persistTxns') effects.push('persist');
        if (effect.kind === 'send' && ['proposal', 'commit', 'leaderDurable'].includes(effect.msg.type)) effects.push(`${effect.msg.type} ${effect.to}`);
      };
      const write = sim.write(origin);
      expect(sim.runUntil(() => sim.writeStatus(write) === 'acked', 50)).toBe(true);
      // The other follower may still be owed its COMMIT: let it go before the next write.
      sim.runTicks(10);
      expect(effects.slice(0, 3).sort()).toEqual(['persist', ...followers.map((sid) => `proposal ${sid}`)].sort());
      expect(effects[2]).toBe('persist');
      for (const sid of followers) expect(effects.filter((e) => e === `commit ${sid}` || e === `leaderDurable ${sid}`).length, `to ${sid}: ${effects.join(', ')}`).toBeGreaterThan(0);
    }
  });

  it('an idle ensemble has ticks to do only for PINGs: followers sleep through them all', () => {
    const limits = { pingIntervalTicks: 5, syncLimitTicks: 50, initLimitTicks: 100 };
    const { sim, leader, followers } = stableCluster({ limits });
    for (let i = 0; i < 200; i++) {
      sim.runTicks(1);
      expect(sim.node(leader).peer.ticksUntilDue()).toBeLessThanOrEqual(limits.pingIntervalTicks);
      // Each PING resets a follower's silence deadline, so none ever comes close.
      for (const sid of followers) expect(sim.node(sid).peer.ticksUntilDue()).toBeGreaterThan(limits.syncLimitTicks - 2 * limits.pingIntervalTicks);
    }
    expect(sim.stableLeader()).toBe(leader);
  });

  it('a paused-then-resumed leader stops serving at once', () => {
    const { sim, leader, followers } = stableCluster();
    sim.pause(leader, sim.limits.syncLimitTicks * 4);
    expect(sim.runUntil(() => followers.some((sid) => sim.node(sid).peer.roleName === 'leading' && sim.node(sid).peer.isServing), 100)).toBe(true);
    expect(sim.runUntil(() => sim.node(leader).pausedUntilTick === 0, 100)).toBe(true);
    // The resume delivered the ticks it missed first: it gave up before serving anything.
    expect(sim.node(leader).peer.roleName === 'leading' && sim.node(leader).peer.isServing).toBe(false);
    expectConverged(sim);
  });

  it('follower with an uncommitted tail is truncated on rejoin', () => {
    const { sim, leader, followers } = stableCluster();
    const [f1, f2] = followers as [number, number];
    // f1 alone logs the proposal: f2 is cut off and the leader's own fsync never completes, so
    // no quorum holds it (one follower's ACK is not enough).
    sim.partition([[leader, f1], [f2]]);
    sim.stallFsync(leader, true);
    const tail = sim.write(leader);
    expect(sim.runUntil(() => sim.node(f1).disk.durableZxid > sim.node(f2).peer.lastLoggedZxid, 30)).toBe(true);
    expect(sim.writeStatus(tail)).toBe('pending');
    sim.crash(f1, true);
    sim.crash(leader, false);
    sim.heal();
    sim.restart(leader);
    sim.stallFsync(leader, false);
    // The leader (tail lost) and f2 form a quorum and move on without the tail.
    expect(sim.runUntil(() => [leader, f2].some((sid) => sim.node(sid).peer.roleName === 'leading' && sim.node(sid).peer.isServing), 150)).toBe(true);
    const newLeader = [leader, f2].find((sid) => sim.node(sid).peer.roleName === 'leading')!;
    const next = sim.write(newLeader);
    expect(sim.runUntil(() => sim.writeStatus(next) === 'acked', 50)).toBe(true);
    sim.restart(f1);
    expectConverged(sim);
    expect(sim.node(f1).truncations).toBeGreaterThan(0);
    expect(sim.canon.some((entry) => entry.writeId === tail)).toBe(false);
    expect(sim.node(f1).sm.hash).toBe(sim.node(newLeader).sm.hash);
  });

  it('lagging follower gets SNAP', () => {
    const { sim, leader, followers } = stableCluster({ limits: { committedLogWindowMax: 5 } });
    const lagging = followers[0]!;
    sim.crash(lagging, true);
    const writes = Array.from({ length: 20 }, () => sim.write(leader));
    expect(sim.runUntil(() => writes.every((w) => sim.writeStatus(w) === 'acked'), 100)).toBe(true);
    sim.restart(lagging);
    expectConverged(sim);
    expect(sim.node(lagging).snapshotsInstalled).toBeGreaterThan(0);
    expect(sim.node(lagging).sm.count).toBe(sim.canon.length);
  });

  it('a follower just behind the window gets DIFF, not SNAP', () => {
    const { sim, leader, followers } = stableCluster({ limits: { committedLogWindowMax: 50 } });
    const lagging = followers[0]!;
    sim.crash(lagging, true);
    const writes = Array.from({ length: 20 }, () => sim.write(leader));
    expect(sim.runUntil(() => writes.every((w) => sim.writeStatus(w) === 'acked'), 100)).toBe(true);
    sim.restart(lagging);
    expectConverged(sim);
    expect(sim.node(lagging).snapshotsInstalled).toBe(0);
    expect(sim.node(lagging).sm.count).toBe(sim.canon.length);
  });

  it('observer learns commits via INFORM and never counts for quorum', () => {
    const { sim, leader, followers } = stableCluster({ observers: 1 });
    const observer = sim.view.observers[0]!;
    const received: string[] = [];
    const sent = recordSends(sim);
    const baseHook = sim.onEffect!;
    sim.onEffect = (sid, effect) => {
      baseHook(sid, effect);
      if (effect.kind === 'send' && effect.to === observer) received.push(effect.msg.type);
    };
    const writes = Array.from({ length: 5 }, () => sim.write(observer));
    expect(sim.runUntil(() => writes.every((w) => sim.writeStatus(w) === 'acked'), 60)).toBe(true);
    expectConverged(sim);
    expect(received).toContain('inform');
    expect(received).not.toContain('proposal');
    expect(sent.get(observer) ?? []).not.toContain('ack');
    // With both followers down, leader + observer is no quorum: nothing commits.
    for (const f of followers) sim.crash(f, true);
    const orphan = sim.write(leader);
    sim.runTicks(sim.limits.syncLimitTicks + 5);
    expect(sim.writeStatus(orphan)).not.toBe('acked');
    expect(sim.canon.some((entry) => entry.writeId === orphan)).toBe(false);
    expect(sim.node(leader).peer.roleName).not.toBe('leading');
  });

  it('a server joining a running ensemble follows the established leader without a new epoch', () => {
    const sim = new Simulation({ seed: 11, voters: 3, observers: 0, faults: quietFaultPlan });
    sim.crash(3, true);
    sim.start();
    expect(sim.runUntil(() => [1, 2].every((sid) => sim.node(sid).peer.isServing), 100)).toBe(true);
    const leader = [1, 2].find((sid) => sim.node(sid).peer.roleName === 'leading')!;
    const epoch = sim.node(leader).peer.epoch;
    const established = sim.stats.epochsEstablished;
    sim.restart(3);
    expect(sim.runUntil(() => sim.stableLeader() === leader, 100)).toBe(true);
    expect(sim.node(3).peer.epoch).toBe(epoch);
    expect(sim.stats.epochsEstablished).toBe(established);
  });

  it('a sync on a follower completes only after every write acked before it is visible there', () => {
    const { sim, leader, followers } = stableCluster();
    const writes = Array.from({ length: 3 }, () => sim.write(leader));
    expect(sim.runUntil(() => writes.every((w) => sim.writeStatus(w) === 'acked'), 50)).toBe(true);
    const request = sim.sync(followers[1]!);
    expect(sim.runUntil(() => request.done, 30)).toBe(true);
    expect(sim.node(followers[1]!).sm.count).toBeGreaterThanOrEqual(request.mustSeeCount);
    expect(request.mustSeeCount).toBe(3);
  });

  it('a write on a server with no leader is rejected, never applied', () => {
    const { sim, leader, followers } = stableCluster();
    sim.partition([[leader], followers]);
    expect(sim.runUntil(() => sim.node(leader).peer.roleName === 'looking', 30)).toBe(true);
    const write = sim.write(leader);
    expect(sim.writeStatus(write)).toBe('rejected');
    sim.heal();
    expectConverged(sim);
    expect(sim.canon.some((entry) => entry.writeId === write)).toBe(false);
  });
});

describe('client sync', () => {
  it('completes at once in a fresh epoch with nothing proposed yet', () => {
    const { sim, leader, followers } = stableCluster();
    const onLeader = sim.sync(leader);
    const onFollower = sim.sync(followers[0]!);
    expect(sim.runUntil(() => onLeader.done && onFollower.done, 10)).toBe(true);
  });
});
