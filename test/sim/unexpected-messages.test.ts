import { describe, expect, it } from 'vitest';
import { peerMessageTypes } from '../../src/quorum/message-schema.js';
import type { QuorumPeer } from '../../src/quorum/peer.js';
import { Prng } from '../../src/quorum/sim/prng.js';
import { notificationMessage } from '../../src/quorum/messages.js';
import { quietFaultPlan } from '../../src/quorum/sim/fault-plan.js';
import { SimViolation } from '../../src/quorum/sim/sim-oracle.js';
import { Simulation } from '../../src/quorum/sim/simulation.js';
import { ServerState } from '../../src/quorum/vote.js';
import { arbitraryMessage } from './arbitrary-messages.js';

// The transport only lets well-formed messages through, but a well-formed message can still
// be one the receiver does not expect: a COMMIT to a LOOKING server, a TRUNC below what a
// follower applied, a SNAP chunk nobody announced, an ACK from a follower that never synced.
// Whatever the role and phase, the core must answer such a message by ignoring it or by
// closing the link, never by throwing. Forged messages are believed where the real sender's
// would be (the transport authenticates peers), so a run may break a safety check after one:
// that run simply ends there. Only an exception out of the core fails the test.

const seeds = 120;
const ticksPerSeed = 120;
const injectChancePerEvent = 0.15;

function state(peer: QuorumPeer): string {
  if (peer.leaderRole !== null) return `leading/${peer.leaderRole.currentPhase}`;
  if (peer.learnerRole !== null) return `${peer.roleName}/${peer.learnerRole.currentPhase}`;
  return 'looking';
}

interface Outcome {
  readonly injected: number;
  readonly states: Set<string>;
  readonly types: Set<string>;
  readonly brokeSafety: boolean;
}

/** One seeded run with faults, messages injected between events; rethrows anything but a SimViolation. */
function runWithInjections(seed: number): Outcome {
  const sim = new Simulation({ seed });
  const prng = new Prng(seed * 7919 + 1);
  const members = [...sim.nodes.keys()];
  const outcome = { injected: 0, states: new Set<string>(), types: new Set<string>(), brokeSafety: false };
  const inject = (): false => {
    if (!prng.chance(injectChancePerEvent)) return false;
    const node = sim.node(prng.pick(members));
    if (!node.up || node.pausedUntilTick > sim.tickCount) return false;
    // Mostly as the leader the target follows (the sender whose messages it acts on).
    const leader = node.peer.leaderSid;
    const others = members.filter((sid) => sid !== node.sid);
    const from = leader !== null && leader !== node.sid && prng.chance(0.6) ? leader : prng.pick(others);
    const msg = arbitraryMessage(prng, { peer: node.peer, members });
    outcome.states.add(state(node.peer));
    outcome.types.add(msg.type);
    outcome.injected++;
    try {
      sim.inject(node.sid, from, msg);
    } catch (error) {
      if (error instanceof SimViolation) throw error;
      throw new Error(`seed ${seed}: ${msg.type} from ${from} to ${node.sid} (${state(node.peer)}) threw ${String(error)}`, { cause: error });
    }
    return false;
  };
  try {
    sim.start();
    for (let tick = 0; tick < ticksPerSeed; tick++) {
      // Faults and client writes arrive on every other tick; messages are injected between events.
      if (tick % 2 === 0) sim.runTicks(1, true);
      else sim.runUntil(inject, 1);
    }
  } catch (error) {
    if (!(error instanceof SimViolation) || /malformed|SNAP chunk over/.test(error.message)) throw error;
    outcome.brokeSafety = true;
  }
  return outcome;
}

describe('the consensus core and unexpected well-formed messages', () => {
  it('no message of any type, in any role and phase, makes the core throw (seeded runs with faults)', () => {
    const states = new Set<string>();
    const types = new Set<string>();
    let injected = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const outcome = runWithInjections(seed);
      injected += outcome.injected;
      for (const s of outcome.states) states.add(s);
      for (const t of outcome.types) types.add(t);
    }
    // The injections reached every role and phase and carried every message type.
    expect([...types].sort()).toEqual([...peerMessageTypes].sort());
    for (const expected of [
      'looking', 'leading/discovery', 'leading/awaitingEpochAcks', 'leading/awaitingNewLeaderAcks', 'leading/broadcast',
      'following/discovery', 'following/synchronization', 'following/broadcast', 'observing/broadcast',
    ]) {
      expect(states, `injections into ${expected}`).toContain(expected);
    }
    expect(injected).toBeGreaterThan(5_000);
  });


  it('an observer that a quorum of decided votes names as leader stays an observer (only a voter can lead)', () => {
    const sim = new Simulation({ seed: 11, voters: 3, observers: 1, faults: quietFaultPlan });
    sim.start();
    const observer = sim.node(4);
    const clock = 1n;
    for (const from of [1, 2]) {
      expect(() => sim.inject(4, from, notificationMessage(ServerState.following, 4, 0n, clock, 0n))).not.toThrow();
    }
    expect(observer.peer.roleName).toBe('looking');
    expect(sim.runUntil(() => sim.stableLeader() !== null, 200)).toBe(true);
    expect(observer.peer.roleName).toBe('observing');
    expect(sim.view.voters).toContain(sim.stableLeader());
  });
});
