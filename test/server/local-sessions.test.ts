// A standalone server decides whether a session lives with the session liveness machine as a
// one-member leader, on a clock of ms with buckets of tickTime (the ensemble's machine is
// tested in test/quorum/session-liveness.test.ts and by the simulator).
import { describe, expect, it } from 'vitest';
import { SessionTable as Table } from '../support/session-table.js';
import { LocalSessionAuthority } from '../../src/server/local-sessions.js';

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
    const expiredNow = (): bigint[] => {
      const out: bigint[] = [];
      authority.expireTo((id) => out.push(id));
      authority.clock(clock.ms);
      return out;
    };
    return { table, clock, authority, expiredNow };
  }

  it('expires a session not heard from within its timeout, and keeps one that was touched', () => {
    const { table, clock, authority, expiredNow } = setup();
    for (const id of [1n, 2n]) {
      table.sessions.set(id, 1000);
      authority.created(id, 1000);
    }
    clock.ms += 600;
    authority.touch(2n, 1000);
    clock.ms += 600;
    expect(expiredNow()).toEqual([1n]);
    expect(authority.isExpiring(1n)).toBe(true);
    expect(authority.isExpiring(2n)).toBe(false);
    clock.ms += 600;
    expect(expiredNow()).toEqual([2n]);
  });

  it('renews a reconnecting session with the timeout negotiated now, and refuses one unknown or expiring', () => {
    const { table, clock, authority, expiredNow } = setup();
    table.sessions.set(1n, 1000);
    authority.created(1n, 1000);
    const answers: string[] = [];
    clock.ms += 900;
    authority.revalidate(1n, 3000, (answer) => answers.push(answer));
    clock.ms += 2000;
    expect(expiredNow()).toEqual([]);
    authority.revalidate(9n, 3000, (answer) => answers.push(answer));
    clock.ms += 1200;
    expect(expiredNow()).toEqual([1n]);
    authority.revalidate(1n, 3000, (answer) => answers.push(answer));
    expect(answers).toEqual(['valid', 'invalid', 'invalid']);
  });

  it('forgets a session once its close is applied', () => {
    const { table, clock, authority, expiredNow } = setup();
    table.sessions.set(1n, 500);
    authority.created(1n, 500);
    table.sessions.delete(1n);
    authority.closed(1n);
    clock.ms += 1000;
    expect(expiredNow()).toEqual([]);
    expect(authority.isExpiring(1n)).toBe(false);
  });

  it('after a reset tracks exactly the table, each session with a full timeout from then', () => {
    const { table, clock, authority, expiredNow } = setup();
    authority.created(5n, 500);
    table.sessions.set(6n, 500);
    clock.ms += 400;
    authority.reset();
    clock.ms += 400;
    expect(expiredNow()).toEqual([]);
    clock.ms += 300;
    expect(expiredNow()).toEqual([6n]);
  });
});

