// Which effects are barriers is part of their type (src/quorum/effects.ts): `tsc -p
// tsconfig.test.json` (run by npm test) fails if a barrier kind can be built without
// `barrier: true`, or an immediate one with it; at run time the field is what the driver reads.
import { describe, expect, it } from 'vitest';
import { leaderInfoMessage, type QuorumEffect } from '../../src/quorum/index.js';

const isBarrier = (effect: QuorumEffect): boolean => effect.barrier === true;

describe('barrier effects', () => {
  it('are told apart by their type, not by a list of kinds', () => {
    // @ts-expect-error truncateLog is a barrier: it must say so
    const unmarked: QuorumEffect = { kind: 'truncateLog', zxid: 1n };
    // @ts-expect-error send is not a barrier
    const wronglyMarked: QuorumEffect = { kind: 'send', to: 2, msg: leaderInfoMessage(1n), barrier: true };
    const effects: QuorumEffect[] = [
      { kind: 'truncateLog', barrier: true, zxid: 1n },
      { kind: 'persistAcceptedEpoch', barrier: true, epoch: 1n },
      { kind: 'persistCurrentEpoch', barrier: true, epoch: 1n },
      { kind: 'installSnapshot', barrier: true, zxid: 1n, data: new Uint8Array() },
      { kind: 'send', to: 2, msg: leaderInfoMessage(1n) },
      { kind: 'persistTxns', entries: [] },
    ];
    expect(effects.map(isBarrier)).toEqual([true, true, true, true, false, false]);
    expect([unmarked, wronglyMarked].map(isBarrier)).toEqual([false, true]);
  });
});
