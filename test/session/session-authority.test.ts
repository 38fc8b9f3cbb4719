// Who decides whether a session lives. A standalone server (and an ensemble's leader)
// decides from its own tick-bucket tracker; an ensemble learner batches what it hears for the
// leader and asks the leader about sessions that reconnect to it.
import { describe, expect, it } from 'vitest';
import { EnsembleSessionAuthority, type SessionLink } from '../../src/session/ensemble-sessions.js';
import { LocalSessionAuthority, type ReplicatedSessions } from '../../src/session/session-authority.js';

/** The replicated session table, as a plain map of id → timeout. */
class Table implements ReplicatedSessions {
  readonly sessions = new Map<bigint, number>();
  lastZxid = 0n;
  has(id: bigint): boolean {
    return this.sessions.has(id);
  }
  timeouts(): Iterable<[bigint, number]> {
    return this.sessions.entries();
  }
}

/** A clock the test moves. */
class Clock {
  ms = 10_000;
  readonly now = () => this.ms;
}

const tick = 100;

describe('LocalSessionAuthority', () => {
  function setup() {
    const table = new Table();
    const clock = new Clock();
    const authority = new LocalSessionAuthority(tick, table, clock.now);
    return { table, clock, authority };
  }

  it('expires a session not heard from within its timeout, and keeps one that was touched', () => {
    const { table, clock, authority } = setup();
    for (const id of [1n, 2n]) {
      table.sessions.set(id, 1000);
      authority.created(id, 1000);
    }
    clock.ms += 600;
    authority.touch(2n);
    clock.ms += 600;
    expect(authority.expired(clock.ms)).toEqual([1n]);
    expect(authority.isExpiring(1n)).toBe(true);
    expect(authority.isExpiring(2n)).toBe(false);
    clock.ms += 600;
    expect(authority.expired(clock.ms)).toEqual([2n]);
  });

  it('renews a reconnecting session with the timeout negotiated now, and refuses one unknown or expiring', () => {
    const { table, clock, authority } = setup();
    table.sessions.set(1n, 1000);
    authority.created(1n, 1000);
    const answers: boolean[] = [];
    clock.ms += 900;
    authority.revalidate(1n, 3000, (valid) => answers.push(valid));
    clock.ms += 2000;
    expect(authority.expired(clock.ms)).toEqual([]);
    authority.revalidate(9n, 3000, (valid) => answers.push(valid));
    clock.ms += 1200;
    expect(authority.expired(clock.ms)).toEqual([1n]);
    authority.revalidate(1n, 3000, (valid) => answers.push(valid));
    expect(answers).toEqual([true, false, false]);
  });

  it('does not report a session the table no longer holds, and forgets it', () => {
    const { table, clock, authority } = setup();
    table.sessions.set(1n, 500);
    authority.created(1n, 500);
    table.sessions.delete(1n);
    clock.ms += 1000;
    expect(authority.expired(clock.ms)).toEqual([]);
    expect(authority.isExpiring(1n)).toBe(false);
  });

  it('after a reset tracks exactly the table, each session with a full timeout from then', () => {
    const { table, clock, authority } = setup();
    authority.created(5n, 500);
    table.sessions.set(6n, 500);
    clock.ms += 400;
    authority.reset();
    clock.ms += 400;
    expect(authority.expired(clock.ms)).toEqual([]);
    clock.ms += 300;
    expect(authority.expired(clock.ms)).toEqual([6n]);
  });
});

/** The consensus side, recorded; `deliver` plays a learner's batches to a leader's authority. */
class RecordingLink implements SessionLink {
  readonly touches: Uint8Array[] = [];
  readonly questions: [bigint, number][] = [];
  readonly answers: [number, bigint, boolean][] = [];
  sendTouches(data: Uint8Array): void {
    this.touches.push(data);
  }
  askRevalidate(sessionId: bigint, timeoutMs: number): void {
    this.questions.push([sessionId, timeoutMs]);
  }
  answerRevalidate(to: number, sessionId: bigint, valid: boolean): void {
    this.answers.push([to, sessionId, valid]);
  }
}

describe('EnsembleSessionAuthority', () => {
  function member() {
    const table = new Table();
    const clock = new Clock();
    const link = new RecordingLink();
    const authority = new EnsembleSessionAuthority(tick, table, link, clock.now);
    return { table, clock, link, authority };
  }

  it('as a learner hands the leader one batch per flush of the sessions it heard from, which keeps them alive there', () => {
    const learner = member();
    learner.authority.roleChanged(false, true);
    learner.authority.touch(1n, 1000);
    learner.authority.touch(2n, 1000);
    learner.authority.touch(1n, 1000);
    learner.authority.flush();
    learner.authority.flush();
    expect(learner.link.touches).toHaveLength(1);

    const leader = member();
    for (const id of [1n, 2n, 3n]) {
      leader.table.sessions.set(id, 1000);
      leader.authority.created(id, 1000);
    }
    leader.authority.roleChanged(true, true);
    leader.clock.ms += 800;
    leader.authority.touchesReported(learner.link.touches);
    leader.clock.ms += 400;
    expect(leader.authority.expired(leader.clock.ms)).toEqual([3n]);
  });

  it('as a learner asks the leader about a reconnecting session and answers every handshake waiting on it', () => {
    const { link, authority } = member();
    authority.roleChanged(false, true);
    const answers: string[] = [];
    authority.revalidate(7n, 4000, (valid) => answers.push(`a ${valid}`));
    authority.revalidate(7n, 4000, (valid) => answers.push(`b ${valid}`));
    expect(link.questions).toEqual([
      [7n, 4000],
      [7n, 4000],
    ]);
    expect(answers).toEqual([]);
    authority.revalidated(7n, true);
    expect(answers).toEqual(['a true', 'b true']);
  });

  it('answers waiting handshakes "invalid" when it stops serving, and refuses new ones while not serving', () => {
    const { authority } = member();
    authority.roleChanged(false, true);
    const answers: boolean[] = [];
    authority.revalidate(7n, 4000, (valid) => answers.push(valid));
    authority.roleChanged(false, false);
    authority.revalidate(8n, 4000, (valid) => answers.push(valid));
    expect(answers).toEqual([false, false]);
  });

  it('as the serving leader decides: every session gets a full timeout from election, and learners\' questions are answered', () => {
    const { table, clock, link, authority } = member();
    table.sessions.set(1n, 1000);
    authority.created(1n, 1000);
    expect(authority.decides).toBe(false);
    clock.ms += 5000;
    expect(authority.expired(clock.ms)).toEqual([]);
    authority.roleChanged(true, true);
    expect(authority.decides).toBe(true);
    clock.ms += 900;
    expect(authority.expired(clock.ms)).toEqual([]);
    authority.revalidateRequested(3, 1n, 2000);
    authority.revalidateRequested(3, 9n, 2000);
    expect(link.answers).toEqual([
      [3, 1n, true],
      [3, 9n, false],
    ]);
    authority.touch(1n, 2000);
    authority.flush();
    expect(link.touches).toEqual([]);
  });
});
