// The pure session-liveness machine, step by step: what the serving leader decides, what a
// learner batches and asks, and what the quiet clock may sleep through. The simulator checks
// the same machine inside whole ensembles under faults (test/sim).
import { describe, expect, it } from 'vitest';
import type { QuorumEffect } from '../../src/quorum/effects.js';
import { sessionEntry } from '../../src/quorum/messages.js';
import { SessionLiveness, SessionMode } from '../../src/quorum/session-liveness.js';

/** 10 ms ticks, buckets of 10 ticks (tickTime 100 ms). */
function machine(mode: SessionMode = SessionMode.decide) {
  const sessions = new SessionLiveness(10, 10);
  const out: QuorumEffect[] = [];
  sessions.setMode(mode, out);
  /** Advances one tick at a time; the expiries, with the tick they came at. */
  const run = (ticks: number): string[] => {
    const expired: string[] = [];
    for (let i = 0; i < ticks; i++) {
      sessions.advance(1);
      const effects: QuorumEffect[] = [];
      sessions.expireDue(effects);
      for (const e of effects) if (e.kind === 'expireSession') expired.push(`${e.sessionId}`);
    }
    return expired;
  };
  return { sessions, out, run };
}

describe('SessionLiveness, deciding', () => {
  it('expires a session between its timeout and one bucket later, once, and keeps one that is touched', () => {
    const { sessions, run } = machine();
    sessions.created(1n, 500); // 50 ticks
    sessions.created(2n, 500);
    expect(run(30)).toEqual([]);
    sessions.touched([sessionEntry(2n, 500)]);
    expect(run(20)).toEqual([]);
    expect(run(10)).toEqual(['1']);
    expect(sessions.isExpiring(1n)).toBe(true);
    expect(run(100)).toEqual(['2']);
  });

  it('sleeps until the next deadline: ticksUntilDue counts down to the expiring tick', () => {
    const { sessions, run } = machine();
    expect(sessions.ticksUntilDue()).toBe(Number.POSITIVE_INFINITY);
    sessions.created(1n, 500);
    const due = sessions.ticksUntilDue();
    expect(due).toBe(60);
    expect(run(due - 1)).toEqual([]);
    expect(run(1)).toEqual(['1']);
    expect(sessions.ticksUntilDue()).toBe(Number.POSITIVE_INFINITY);
  });

  it('renews a reconnecting session with the timeout given, and refuses one unknown, expiring or closed', () => {
    const { sessions, run } = machine();
    sessions.created(1n, 500);
    run(40);
    expect(sessions.renew(1n, 2000, 1)).toBe(true);
    expect(run(150)).toEqual([]);
    expect(sessions.renew(9n, 2000, 1)).toBe(false);
    expect(run(100)).toEqual(['1']);
    expect(sessions.renew(1n, 2000, 1)).toBe(false);
    sessions.closed(1n);
    expect(sessions.renew(1n, 2000, 1)).toBe(false);
    expect(sessions.isExpiring(1n)).toBe(false);
  });

  it('takes a session whose close it accepted as closing: not renewed, not expired again, gone once the close applies; a learner leaves that to its leader', () => {
    const { sessions, run } = machine();
    sessions.created(1n, 500);
    sessions.created(2n, 500);
    sessions.closeAccepted(1n);
    expect(sessions.isExpiring(1n)).toBe(true);
    expect(sessions.renew(1n, 500, 1)).toBe(false);
    expect(sessions.renew(2n, 500, 1)).toBe(true);
    expect(run(200)).toEqual(['2']);
    sessions.closed(1n);
    expect(sessions.isExpiring(1n)).toBe(false);
    const learner = machine(SessionMode.follow).sessions;
    learner.created(1n, 500);
    learner.closeAccepted(1n);
    expect(learner.isExpiring(1n)).toBe(false);
  });

  it('takes a session\'s writes only from the member it was last resumed through (its first writer until then), and forgets owners when it stops deciding', () => {
    const { sessions, out } = machine();
    sessions.created(1n, 500);
    expect(sessions.mayWrite(1n, 2)).toBe(true);
    expect(sessions.mayWrite(1n, 3)).toBe(false);
    expect(sessions.renew(1n, 500, 3)).toBe(true);
    expect(sessions.mayWrite(1n, 2)).toBe(false);
    expect(sessions.mayWrite(1n, 3)).toBe(true);
    // Not in the table (a createSession on its way, or a session gone): the tree decides.
    expect(sessions.mayWrite(9n, 2)).toBe(true);
    sessions.setMode(SessionMode.follow, out);
    sessions.setMode(SessionMode.decide, out);
    expect(sessions.mayWrite(1n, 2)).toBe(true);
    expect(sessions.mayWrite(1n, 3)).toBe(false);
  });

  it('takes touches reported by learners, and ignores sessions not in the table', () => {
    const { sessions, run } = machine();
    sessions.created(1n, 500);
    run(40);
    sessions.reported([sessionEntry(1n, 500), sessionEntry(7n, 500)]);
    expect(run(45)).toEqual([]);
    expect(run(20)).toEqual(['1']);
    expect(sessions.sessionCount).toBe(1);
  });

  it('gives every session a full timeout from when it starts deciding, and forgets its deadlines when it stops', () => {
    const { sessions, out, run } = machine(SessionMode.none);
    sessions.replaceTable([sessionEntry(1n, 500), sessionEntry(2n, 500)]);
    expect(run(200)).toEqual([]);
    expect(sessions.ticksUntilDue()).toBe(Number.POSITIVE_INFINITY);
    sessions.setMode(SessionMode.decide, out);
    expect(run(50)).toEqual([]);
    expect(run(10).sort()).toEqual(['1', '2']);
    sessions.setMode(SessionMode.none, out);
    expect(sessions.isExpiring(1n)).toBe(false);
    sessions.setMode(SessionMode.decide, out);
    expect(run(60).sort()).toEqual(['1', '2']);
  });
});

describe('SessionLiveness, learning', () => {
  it('batches the sessions heard from (the latest timeout wins) and empties the batch when taken', () => {
    const { sessions } = machine(SessionMode.follow);
    sessions.touched([sessionEntry(1n, 500), sessionEntry(2n, 500)]);
    sessions.touched([sessionEntry(1n, 900)]);
    expect(sessions.takeBatch()).toEqual([sessionEntry(1n, 900), sessionEntry(2n, 500)]);
    expect(sessions.takeBatch()).toEqual([]);
    expect(sessions.ticksUntilDue()).toBe(Number.POSITIVE_INFINITY);
  });

  it('asks once per session, answers what the leader says, and drops answers nobody asked for', () => {
    const { sessions } = machine(SessionMode.follow);
    expect(sessions.ask(7n)).toBe(true);
    expect(sessions.ask(7n)).toBe(false);
    const out: QuorumEffect[] = [];
    sessions.answered(8n, true, out);
    sessions.answered(7n, true, out);
    expect(out).toEqual([{ kind: 'sessionRevalidated', sessionId: 7n, answer: 'valid' }]);
  });

  it('answers pending questions unknown (the client goes elsewhere, not told expired) when it stops serving, and drops its batch when it stops learning', () => {
    const { sessions } = machine(SessionMode.follow);
    sessions.ask(7n);
    sessions.touched([sessionEntry(1n, 500)]);
    const out: QuorumEffect[] = [];
    sessions.setMode(SessionMode.sync, out);
    expect(out).toEqual([{ kind: 'sessionRevalidated', sessionId: 7n, answer: 'unknown' }]);
    expect(sessions.batchSize).toBe(1);
    sessions.setMode(SessionMode.none, out);
    expect(sessions.batchSize).toBe(0);
    sessions.touched([sessionEntry(1n, 500)]);
    expect(sessions.batchSize).toBe(0);
  });
});
