// Session liveness scenarios in the simulator, scripted: the sweep (sweep-a/b) checks the same
// properties over seeded random runs with faults.
import { describe, expect, it } from 'vitest';
import type { QuorumEffect } from '../../src/quorum/effects.js';
import { pingReplyTouchesMax, sessionEntry } from '../../src/quorum/messages.js';
import { simSessionKey } from '../../src/quorum/sim/hash-chain.js';
import { quietFaultPlan } from '../../src/quorum/sim/fault-plan.js';
import { Simulation } from '../../src/quorum/sim/simulation.js';

const timeoutTicks = 50;
/** The leader hears a follower's touch on the next PING reply: within a few ticks here. */
const deliveryTicks = 4;

/** A fault-free three-voter cluster with a stable leader and one open session (id 1). */
function clusterWithSession(openAt: 'leader' | 'follower') {
  const sim = new Simulation({ seed: 11, voters: 3, observers: 0, faults: quietFaultPlan, traceLines: 80 });
  sim.start();
  expect(sim.runUntil(() => sim.stableLeader() !== null, 100)).toBe(true);
  const leader = sim.stableLeader()!;
  const follower = sim.view.voters.find((sid) => sid !== leader)!;
  const timeoutMs = timeoutTicks * sim.limits.tickMs;
  const create = sim.write(openAt === 'leader' ? leader : follower, simSessionKey(1n), timeoutMs);
  expect(sim.runUntil(() => sim.writeStatus(create) === 'acked', 50)).toBe(true);
  const effects: [number, number, QuorumEffect][] = [];
  sim.onEffect = (sid, effect) => {
    if (effect.kind === 'expireSession' || effect.kind === 'sessionRevalidated' || effect.kind === 'roleChanged') effects.push([sim.tickCount, sid, effect]);
  };
  const expiries = () => effects.filter(([, , e]) => e.kind === 'expireSession');
  const answers = () => effects.filter(([, , e]) => e.kind === 'sessionRevalidated').map(([, sid, e]) => [sid, (e as { answer: string }).answer]);
  const touch = (sid: number) => sim.sessionEvent(sid, { kind: 'sessionTouches', touches: [sessionEntry(1n, timeoutMs)] });
  const revalidate = (sid: number) => sim.sessionEvent(sid, { kind: 'revalidateSession', sessionId: 1n, timeoutMs });
  const closedEverywhere = () => [...sim.nodes.values()].every((n) => !n.up || !n.sm.isOpen(1n));
  return { sim, leader, follower, effects, expiries, answers, touch, revalidate, closedEverywhere };
}

describe('session liveness in the simulator', () => {
  it('a session touched only through a follower outlives its timeout; left silent, the leader expires it between its timeout and one bucket more, and its close applies everywhere', () => {
    const { sim, leader, follower, expiries, touch, closedEverywhere } = clusterWithSession('follower');
    for (let i = 0; i < 8; i++) {
      touch(follower);
      sim.runTicks(timeoutTicks / 2);
    }
    expect(expiries()).toEqual([]);
    touch(follower);
    const lastTouch = sim.tickCount;
    expect(sim.runUntil(() => expiries().length > 0, timeoutTicks * 2)).toBe(true);
    const [[at, sid]] = expiries() as [[number, number, QuorumEffect]];
    expect(sid).toBe(leader);
    expect(at - lastTouch).toBeGreaterThan(timeoutTicks);
    expect(at - lastTouch).toBeLessThanOrEqual(timeoutTicks + sim.limits.sessionBucketTicks + deliveryTicks);
    expect(sim.runUntil(closedEverywhere, 50)).toBe(true);
  });

  it('a new leader gives every session a full timeout from when it starts leading', () => {
    const { sim, leader, effects, expiries } = clusterWithSession('leader');
    sim.runTicks(timeoutTicks - 5);
    sim.crash(leader);
    const servingAt = () => effects.find(([, , e]) => e.kind === 'roleChanged' && e.role === 'leading' && e.serving)?.[0];
    expect(sim.runUntil(() => servingAt() !== undefined, 200)).toBe(true);
    expect(sim.runUntil(() => expiries().length > 0, timeoutTicks * 2)).toBe(true);
    const [[at, sid]] = expiries() as [[number, number, QuorumEffect]];
    expect(sid).not.toBe(leader);
    expect(at - servingAt()!).toBeGreaterThan(timeoutTicks);
    expect(at - servingAt()!).toBeLessThanOrEqual(timeoutTicks + sim.limits.sessionBucketTicks);
  });

  it('a reconnecting session is valid at a follower (the leader renews it) while open, and invalid everywhere once closed', () => {
    const { sim, leader, follower, expiries, answers, revalidate, closedEverywhere } = clusterWithSession('leader');
    sim.runTicks(timeoutTicks - 10);
    revalidate(follower);
    expect(sim.runUntil(() => answers().length === 1, 20)).toBe(true);
    expect(answers()).toEqual([[follower, 'valid']]);
    const renewedAt = sim.tickCount;
    expect(sim.runUntil(() => expiries().length > 0, timeoutTicks * 2)).toBe(true);
    expect(expiries()[0]![0] - renewedAt).toBeGreaterThan(timeoutTicks - deliveryTicks);
    expect(sim.runUntil(closedEverywhere, 50)).toBe(true);
    revalidate(follower);
    revalidate(leader);
    expect(sim.runUntil(() => answers().length === 3, 20)).toBe(true);
    expect(answers().slice(1).sort()).toEqual([[follower, 'invalid'], [leader, 'invalid']].sort());
  });

  it('a session whose close the leader accepted is invalid to a reconnect before the close commits, and open until it does', () => {
    const { sim, leader, follower, answers, revalidate, closedEverywhere } = clusterWithSession('leader');
    // The followers' disks stall: the close is proposed and logged at the leader but cannot commit.
    const followers = sim.view.voters.filter((sid) => sid !== leader);
    for (const sid of followers) sim.stallFsync(sid, true);
    const close = sim.write(follower, simSessionKey(1n), 0);
    sim.runTicks(5);
    expect(sim.writeStatus(close)).toBe('pending');
    revalidate(follower);
    revalidate(leader);
    expect(sim.runUntil(() => answers().length === 2, 20)).toBe(true);
    expect(answers().sort()).toEqual([[follower, 'invalid'], [leader, 'invalid']].sort());
    expect(sim.node(leader).sm.isOpen(1n)).toBe(true);
    for (const sid of followers) sim.stallFsync(sid, false);
    expect(sim.runUntil(() => sim.writeStatus(close) === 'acked', 20)).toBe(true);
    expect(sim.runUntil(closedEverywhere, 50)).toBe(true);
  });

  it('a follower cut off from its leader answers a pending revalidation unknown (not invalid) when it stops serving', () => {
    const { sim, leader, follower, answers, revalidate } = clusterWithSession('leader');
    sim.partition([[follower], sim.view.voters.filter((sid) => sid !== follower)]);
    revalidate(follower);
    sim.runTicks(2);
    expect(answers()).toEqual([]);
    expect(sim.runUntil(() => answers().length === 1, sim.limits.syncLimitTicks * 3)).toBe(true);
    expect(answers()).toEqual([[follower, 'unknown']]);
    expect(sim.node(follower).peer.isServing).toBe(false);
    expect(sim.node(leader).sm.isOpen(1n)).toBe(true);
  });

  it('a follower whose touch batch fills sends it to the leader at once, without waiting for a PING', () => {
    const { sim, follower } = clusterWithSession('leader');
    const replies: number[] = [];
    sim.onEffect = (sid, effect) => {
      if (sid === follower && effect.kind === 'send' && effect.msg.type === 'pingReply') replies.push(effect.msg.touches.length);
    };
    const touches = Array.from({ length: pingReplyTouchesMax }, (_, i) => sessionEntry(BigInt(i + 1), 1000));
    sim.sessionEvent(follower, { kind: 'sessionTouches', touches: touches.slice(0, -1) });
    expect(replies).toEqual([]);
    sim.sessionEvent(follower, { kind: 'sessionTouches', touches: touches.slice(-1) });
    expect(replies).toEqual([pingReplyTouchesMax]);
  });

  it('an idle leader with sessions sleeps until the next session deadline or PING, not every tick', () => {
    const { sim, leader } = clusterWithSession('leader');
    const peer = sim.node(leader).peer;
    expect(peer.sessions.ticksUntilDue()).toBeGreaterThan(timeoutTicks - sim.limits.sessionBucketTicks);
    expect(peer.ticksUntilDue()).toBe(Math.min(peer.sessions.ticksUntilDue(), peer.leaderRole!.ticksUntilDue()));
  });
});
