import { describe, expect, it } from 'vitest';
import { Election, type ElectionEffect } from '../../src/quorum/election.js';
import { defaultQuorumLimits } from '../../src/quorum/limits.js';
import { makeQuorumView } from '../../src/quorum/quorum-view.js';
import { ServerState } from '../../src/quorum/vote.js';
import { notificationMessage } from '../../src/quorum/messages.js';
import { makeZxid } from '../../src/quorum/zxid.js';

const view = makeQuorumView([1, 2, 3], [4]);
const limits = { ...defaultQuorumLimits, finalizeWaitTicks: 2 };

function election(self: number, zxid: bigint, currentEpoch: bigint): Election {
  return new Election({ self, view, limits }, { lastLoggedZxid: zxid, currentEpoch }, 0n);
}

/** Delivers every notification at once, in order, until quiet; ticks until all voters decide. */
function runToDecision(elections: Map<number, Election>, ticksMax: number): Map<number, ElectionEffect & { kind: 'decide' }> {
  const decisions = new Map<number, ElectionEffect & { kind: 'decide' }>();
  let inbox: { from: number; effect: ElectionEffect }[] = [];
  const collect = (from: number, effects: ElectionEffect[]) => {
    for (const effect of effects) {
      if (effect.kind === 'decide') decisions.set(from, effect);
      else inbox.push({ from, effect });
    }
  };
  for (const [sid, e] of elections) collect(sid, e.start());
  for (let tick = 0; tick < ticksMax && decisions.size < elections.size; tick++) {
    while (inbox.length > 0) {
      const batch = inbox;
      inbox = [];
      for (const { from, effect } of batch) {
        if (effect.kind !== 'sendNotification') continue;
        const target = elections.get(effect.to);
        if (target !== undefined) collect(effect.to, target.receive(from, effect.msg));
      }
    }
    for (const [sid, e] of elections) collect(sid, e.tick());
  }
  return decisions;
}

describe('fast leader election as a pure state machine', () => {
  it('elects the server with the highest (peerEpoch, zxid, sid) after the finalize wait', () => {
    const elections = new Map([
      [1, election(1, makeZxid(1n, 9n), 1n)],
      [2, election(2, makeZxid(2n, 3n), 2n)],
      [3, election(3, makeZxid(1n, 20n), 1n)],
    ]);
    const decisions = runToDecision(elections, 20);
    expect([...decisions.values()].map((d) => d.leader)).toEqual([2, 2, 2]);
    expect(decisions.get(2)!.role).toBe('leading');
    expect(decisions.get(1)!.role).toBe('following');
  });

  it('does not decide before finalizeWaitTicks have passed', () => {
    const e = election(3, 0n, 0n);
    e.start();
    // Peer 2 votes for itself (loses to us), peer 1 already backs us: a quorum for 3.
    e.receive(2, notificationMessage(ServerState.looking, 2, 0n, 1n, 0n));
    e.receive(1, notificationMessage(ServerState.looking, 3, 0n, 1n, 0n));
    expect(e.tick().some((x) => x.kind === 'decide')).toBe(false);
    expect(e.tick().find((x) => x.kind === 'decide')).toMatchObject({ leader: 3, role: 'leading' });
  });

  it('a joining server follows a running ensemble only when the leader itself claims LEADING', () => {
    const e = election(3, 0n, 0n);
    e.start();
    const following = notificationMessage(ServerState.following, 2, makeZxid(4n, 1n), 7n, 4n);
    expect(e.receive(1, following).some((x) => x.kind === 'decide')).toBe(false);
    const leading = notificationMessage(ServerState.leading, 2, makeZxid(4n, 1n), 7n, 4n);
    const decided = e.receive(2, leading).find((x) => x.kind === 'decide');
    expect(decided).toMatchObject({ kind: 'decide', leader: 2, role: 'following', electionEpoch: 7n });
  });

  it('an observer never counts as a voter and decides OBSERVING', () => {
    const e = election(1, 0n, 0n);
    e.start();
    // The observer (sid 4) votes for 1, but 1's own vote plus an observer is no quorum.
    const replies = e.receive(4, notificationMessage(ServerState.looking, 1, 0n, 1n, 0n));
    expect(replies).toEqual([expect.objectContaining({ kind: 'sendNotification', to: 4 })]);
    for (let i = 0; i < 10; i++) expect(e.tick().some((x) => x.kind === 'decide')).toBe(false);
    const observer = election(4, 0n, 0n);
    observer.start();
    observer.receive(1, notificationMessage(ServerState.following, 2, 0n, 3n, 1n));
    const decided = observer.receive(2, notificationMessage(ServerState.leading, 2, 0n, 3n, 1n));
    expect(decided.find((x) => x.kind === 'decide')).toMatchObject({ role: 'observing', leader: 2 });
  });

  it('resends notifications with a doubling interval while nothing arrives', () => {
    const e = election(1, 0n, 0n);
    e.start();
    const resendTicks: number[] = [];
    for (let t = 1; t <= 40; t++) if (e.tick().some((x) => x.kind === 'sendNotification')) resendTicks.push(t);
    const gaps = resendTicks.slice(1).map((t, i) => t - resendTicks[i]!);
    expect(gaps.length).toBeGreaterThan(2);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBe(Math.min(gaps[i - 1]! * 2, limits.notificationIntervalTicksMax));
  });

  it('joins a newer round and answers a peer stuck in an older one', () => {
    const e = election(1, makeZxid(1n, 1n), 1n);
    e.start();
    e.receive(2, notificationMessage(ServerState.looking, 2, 0n, 5n, 0n));
    expect(e.electionEpoch).toBe(5n);
    const answer = e.receive(3, notificationMessage(ServerState.looking, 3, 0n, 2n, 0n));
    expect(answer).toEqual([expect.objectContaining({ kind: 'sendNotification', to: 3 })]);
  });

  it('an observer does not answer a voter in an older round (the answers would ping-pong forever)', () => {
    const observer = election(4, 0n, 0n);
    observer.start();
    observer.receive(2, notificationMessage(ServerState.looking, 2, 0n, 7n, 0n));
    expect(observer.receive(1, notificationMessage(ServerState.looking, 1, 0n, 1n, 0n))).toEqual([]);
  });

  it('chatter from a non-voter does not postpone resends to the voters', () => {
    const e = election(1, 0n, 0n);
    e.start();
    let resent = false;
    for (let t = 0; t < limits.notificationIntervalTicksMin + 1; t++) {
      e.receive(4, notificationMessage(ServerState.looking, 0, -1n, 1n, -1n));
      if (e.tick().some((x) => x.kind === 'sendNotification' && x.to !== 4)) resent = true;
    }
    expect(resent).toBe(true);
  });
});
