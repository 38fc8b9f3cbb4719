import { describe, expect, it } from 'vitest';
import type { QuorumEffect } from '../../src/quorum/effects.js';
import { proposalMessage, requestMessage, snapChunkMessage, snapMessage } from '../../src/quorum/messages.js';
import { quietFaultPlan } from '../../src/quorum/sim/fault-plan.js';
import { Simulation, simSnapChunkBytes } from '../../src/quorum/sim/simulation.js';
import { zxidEpochStart } from '../../src/quorum/zxid.js';

/** A fault-free cluster with a small DIFF window, so that a follower down for 20 writes needs SNAP. */
function stableCluster(seed = 7): { sim: Simulation; leader: number; followers: number[] } {
  const sim = new Simulation({ seed, voters: 3, observers: 0, faults: quietFaultPlan, traceLines: 80, limits: { committedLogWindowMax: 5 } });
  sim.start();
  expect(sim.runUntil(() => sim.stableLeader() !== null, 100)).toBe(true);
  const leader = sim.stableLeader()!;
  return { sim, leader, followers: sim.view.voters.filter((sid) => sid !== leader) };
}

/** Crashes `sid`, commits `count` writes without it, and restarts it: it will need a SNAP. */
function fallBehind(sim: Simulation, leader: number, sid: number, count = 20): void {
  sim.crash(sid, true);
  const writes = Array.from({ length: count }, () => sim.write(leader));
  expect(sim.runUntil(() => writes.every((w) => sim.writeStatus(w) === 'acked'), 200)).toBe(true);
  sim.restart(sid);
}

function effectsOf(sim: Simulation): { sid: number; effect: QuorumEffect }[] {
  const seen: { sid: number; effect: QuorumEffect }[] = [];
  sim.onEffect = (sid, effect) => seen.push({ sid, effect });
  return seen;
}

function expectConverged(sim: Simulation): void {
  expect(sim.runUntil(() => sim.converged(), 400), 'converged').toBe(true);
}

describe('SNAP in chunks, in the simulator', () => {
  it('a learner far behind is brought back by a snapshot that travels in several chunks, each within the limit', () => {
    const { sim, leader, followers } = stableCluster();
    const lagging = followers[0]!;
    const seen = effectsOf(sim);
    fallBehind(sim, leader, lagging);
    expectConverged(sim);
    const toLagging = seen.filter((e) => e.sid === leader && e.effect.kind === 'send' && e.effect.to === lagging).map((e) => (e.effect as { msg: { type: string; data?: Uint8Array; snapshotBytes?: number } }).msg);
    const header = toLagging.find((msg) => msg.type === 'snap')!;
    const chunks = toLagging.filter((msg) => msg.type === 'snapChunk');
    expect(header.snapshotBytes).toBeGreaterThan(2 * simSnapChunkBytes);
    expect(chunks.length).toBe(Math.ceil(header.snapshotBytes! / simSnapChunkBytes));
    expect(chunks.every((c) => c.data!.length <= simSnapChunkBytes)).toBe(true);
    expect(chunks.reduce((sum, c) => sum + c.data!.length, 0)).toBe(header.snapshotBytes);
    expect(sim.node(lagging).snapshotsInstalled).toBe(1);
    expect(sim.node(lagging).sm.count).toBe(sim.canon.length);
  });

  it('a link broken in the middle of a SNAP installs nothing partial: the learner starts over and converges', () => {
    const { sim, leader, followers } = stableCluster();
    const lagging = followers[0]!;
    let cut = false;
    sim.onEffect = (sid, effect) => {
      if (!cut && sid === leader && effect.kind === 'send' && effect.to === lagging && effect.msg.type === 'snapChunk') {
        cut = true;
        sim.resetLink(leader, lagging);
      }
    };
    fallBehind(sim, leader, lagging);
    expectConverged(sim);
    expect(cut).toBe(true);
    // The simulator checks every installed snapshot against the committed log: only whole ones got in.
    expect(sim.node(lagging).snapshotsInstalled).toBeGreaterThanOrEqual(1);
    expect(sim.node(lagging).sm.count).toBe(sim.canon.length);
  });

  it('a learner refuses a snapshot its state machine cannot restore, before dropping its own state', () => {
    const { sim, leader, followers } = stableCluster();
    const lagging = followers[0]!;
    fallBehind(sim, leader, lagging);
    const node = sim.node(lagging);
    expect(sim.runUntil(() => node.peer.learnerRole?.currentPhase === 'synchronization', 50)).toBe(true);
    const applied = node.peer.appliedZxid;
    sim.inject(lagging, leader, snapMessage(applied + 1n, 7));
    sim.inject(lagging, leader, snapChunkMessage(new Uint8Array(7)));
    expect(node.peer.lastStepDownReason).toMatch(/snapshot at 0x[0-9a-f]+ refused: a snapshot has a 12-byte header; got 7 bytes/);
    expect(node.peer.appliedZxid).toBe(applied);
    expect(node.snapshotsInstalled).toBe(0);
    expectConverged(sim);
  });

  it('a SNAP chunk beyond the size announced, or without a SNAP, makes the learner give up on the link', () => {
    const { sim, leader, followers } = stableCluster();
    const lagging = followers[0]!;
    fallBehind(sim, leader, lagging);
    const node = sim.node(lagging);
    expect(sim.runUntil(() => node.peer.learnerRole?.currentPhase === 'synchronization', 50)).toBe(true);
    sim.inject(lagging, leader, snapChunkMessage(new Uint8Array(4)));
    expect(node.peer.lastStepDownReason).toBe('SNAPCHUNK without a SNAP');
    expect(sim.runUntil(() => node.peer.learnerRole?.currentPhase === 'synchronization', 100)).toBe(true);
    sim.inject(lagging, leader, snapMessage(node.peer.appliedZxid + 1n, 12));
    sim.inject(lagging, leader, snapChunkMessage(new Uint8Array(13)));
    expect(node.peer.lastStepDownReason).toBe('SNAPCHUNK beyond the 12 bytes announced');
    expectConverged(sim);
  });
});

describe('txn payloads from peers are refused where a write enters', () => {
  it('the leader refuses a REQUEST whose payload is not a write, closing that learner\'s link with the reason', () => {
    const { sim, leader, followers } = stableCluster();
    const seen = effectsOf(sim);
    sim.inject(leader, followers[0]!, requestMessage({ sid: followers[0]!, requestId: 1 }, new Uint8Array(3)));
    const disconnect = seen.find((e) => e.sid === leader && e.effect.kind === 'disconnect');
    expect(disconnect?.effect).toEqual({ kind: 'disconnect', peer: followers[0], reason: 'protocol violation: REQUEST payload refused: a write is 9 bytes, not 3' });
    expect(sim.node(leader).peer.lastLoggedZxid).toBe(sim.node(leader).peer.appliedZxid);
    expectConverged(sim);
  });
});
