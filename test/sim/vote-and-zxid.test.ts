import { describe, expect, it } from 'vitest';
import { compareVotes, sameVote, voteBeats, type Vote } from '../../src/quorum/vote.js';
import {
  makeZxid,
  zxidCounter,
  zxidCounterMax,
  zxidEpoch,
  zxidEpochStart,
  zxidToHex,
} from '../../src/quorum/zxid.js';
import { isQuorum, makeQuorumView, quorumSize } from '../../src/quorum/quorum-view.js';
import { defaultQuorumLimits, validateQuorumLimits } from '../../src/quorum/limits.js';
import { Journal } from '../../src/quorum/journal.js';

const vote = (leader: number, zxid: bigint, peerEpoch: bigint): Vote => ({ leader, zxid, peerEpoch });

describe('vote ordering (totalOrderPredicate)', () => {
  it('a higher peerEpoch wins even over a higher zxid', () => {
    expect(voteBeats(vote(1, makeZxid(2n, 1n), 3n), vote(2, makeZxid(2n, 9n), 2n))).toBe(true);
    expect(voteBeats(vote(2, makeZxid(2n, 9n), 2n), vote(1, makeZxid(2n, 1n), 3n))).toBe(false);
  });

  it('with equal peerEpoch the higher zxid wins', () => {
    expect(voteBeats(vote(1, makeZxid(3n, 5n), 3n), vote(3, makeZxid(3n, 4n), 3n))).toBe(true);
  });

  it('with equal peerEpoch and zxid the higher sid wins', () => {
    expect(voteBeats(vote(3, 7n, 1n), vote(2, 7n, 1n))).toBe(true);
    expect(voteBeats(vote(2, 7n, 1n), vote(3, 7n, 1n))).toBe(false);
  });

  it('is a strict total order: irreflexive and antisymmetric', () => {
    const votes = [vote(1, 0n, 0n), vote(2, 5n, 0n), vote(3, 5n, 1n), vote(1, makeZxid(1n, 1n), 1n)];
    for (const a of votes) {
      expect(compareVotes(a, a)).toBe(0);
      expect(sameVote(a, a)).toBe(true);
      for (const b of votes) if (a !== b) expect(Math.sign(compareVotes(a, b))).toBe(-Math.sign(compareVotes(b, a)));
    }
  });
});

describe('zxid', () => {
  it('packs epoch and counter into 64 bits without losing precision', () => {
    const zxid = makeZxid(0xfffffffen, 0xfffffffen);
    expect(typeof zxid).toBe('bigint');
    expect(zxidEpoch(zxid)).toBe(0xfffffffen);
    expect(zxidCounter(zxid)).toBe(0xfffffffen);
    expect(zxidToHex(makeZxid(1n, 2n))).toBe('0x100000002');
    expect(zxidEpochStart(5n)).toBe(5n << 32n);
  });

  it('refuses out-of-range parts', () => {
    expect(() => makeZxid(1n, zxidCounterMax + 1n)).toThrow();
    expect(() => makeZxid(-1n, 0n)).toThrow();
  });
});

describe('quorum view and limits', () => {
  it('a quorum is a strict majority of voters; observers never count', () => {
    const view = makeQuorumView([1, 2, 3, 4, 5], [6, 7]);
    expect(quorumSize(view)).toBe(3);
    expect(isQuorum(view, [1, 2])).toBe(false);
    expect(isQuorum(view, [1, 2, 6, 7])).toBe(false);
    expect(isQuorum(view, [1, 2, 5])).toBe(true);
  });

  it('rejects limits that contradict each other', () => {
    expect(() => validateQuorumLimits({ ...defaultQuorumLimits, pingIntervalTicks: 50 })).toThrow(/pingIntervalTicks/);
    expect(() => validateQuorumLimits({ ...defaultQuorumLimits, committedLogWindowMax: 0 })).toThrow(/committedLogWindowMax/);
    expect(validateQuorumLimits(defaultQuorumLimits).syncLimitTicks).toBe(defaultQuorumLimits.syncLimitTicks);
  });
});

describe('journal', () => {
  const entry = (epoch: bigint, counter: bigint) => ({ zxid: makeZxid(epoch, counter), payload: new Uint8Array([Number(counter)]), origin: null });

  it('keeps at most the committed-log window of applied txns and reports the floor', () => {
    const journal = new Journal(2, 0n, []);
    for (let c = 1n; c <= 5n; c++) journal.append(entry(1n, c));
    expect(journal.applyUpTo(makeZxid(1n, 4n)).map((e) => e.zxid)).toEqual([1n, 2n, 3n, 4n].map((c) => makeZxid(1n, c)));
    expect(journal.baseZxid).toBe(makeZxid(1n, 2n));
    expect(journal.floor(makeZxid(1n, 1n))).toBe(-1n);
    expect(journal.floor(makeZxid(1n, 3n))).toBe(makeZxid(1n, 3n));
    expect(journal.floor(makeZxid(2n, 0n))).toBe(makeZxid(1n, 5n));
  });

  it('never truncates an applied txn', () => {
    const journal = new Journal(10, 0n, [entry(1n, 1n), entry(1n, 2n)]);
    journal.applyUpTo(makeZxid(1n, 2n));
    expect(() => journal.truncate(makeZxid(1n, 1n))).toThrow(/truncate below applied/);
  });

  it('clamps durable reports to what is logged', () => {
    const journal = new Journal(10, 0n, []);
    journal.append(entry(1n, 1n));
    journal.markDurable(makeZxid(1n, 9n));
    expect(journal.durableZxid).toBe(makeZxid(1n, 1n));
  });
});

describe('journal durability after truncation', () => {
  it('a stale durable report from before a TRUNC does not cover zxids that are gone', () => {
    const entry = (epoch: bigint, counter: bigint) => ({ zxid: makeZxid(epoch, counter), payload: new Uint8Array(1), origin: null });
    const journal = new Journal(10, 0n, []);
    for (let c = 1n; c <= 6n; c++) journal.append(entry(2n, c));
    journal.markDurable(makeZxid(2n, 3n));
    journal.truncate(makeZxid(2n, 3n));
    journal.append(entry(3n, 1n));
    // The fsync of 2:4..2:6 completed before the truncate but is reported after it.
    journal.markDurable(makeZxid(2n, 6n));
    expect(journal.durableZxid).toBe(makeZxid(2n, 3n));
  });
});
