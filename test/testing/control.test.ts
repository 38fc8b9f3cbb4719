// The control channel's messages are checked on arrival: a member refuses what is not one of
// them, naming what is wrong, and a launcher ignores what it cannot read.
import { describe, expect, it } from 'vitest';
import { parseControlReport, parseControlRequest } from '../../src/testing/control.js';

describe('control messages', () => {
  it('a member takes init and peerFaults with valid rules, and refuses the rest naming why', () => {
    expect(parseControlRequest({ type: 'init', seed: 7, peerFaults: [{ kind: 'cut', from: 1, to: '*' }] })).toEqual({ type: 'init', seed: 7, peerFaults: [{ kind: 'cut', from: 1, to: '*' }] });
    expect(parseControlRequest({ type: 'peerFaults', seq: 3, rules: [] })).toEqual({ type: 'peerFaults', seq: 3, rules: [] });
    expect(() => parseControlRequest(null)).toThrow(/not an object/);
    expect(() => parseControlRequest({ type: 'shutdown' })).toThrow(/unknown control message type "shutdown"/);
    expect(() => parseControlRequest({ type: 'init', peerFaults: [] })).toThrow(/seed must be a number/);
    expect(() => parseControlRequest({ type: 'peerFaults', seq: 1, rules: [{ kind: 'delay', from: 1, to: 2, ms: -5 }] })).toThrow(/rule 0: ms must be/);
  });

  it('a launcher reads the reports it knows and ignores anything else', () => {
    expect(parseControlReport({ type: 'ack', seq: 4 })).toEqual({ type: 'ack', seq: 4 });
    expect(parseControlReport({ type: 'failed', code: 'EADDRINUSE', message: 'listen EADDRINUSE' })).toEqual({ type: 'failed', code: 'EADDRINUSE', message: 'listen EADDRINUSE' });
    expect(parseControlReport({ type: 'started', clientPort: 1234, timing: { bootstrapMs: 1, loadedMs: 2, listeningMs: 3, cpuMs: 4 } })).toMatchObject({ type: 'started', clientPort: 1234 });
    expect(parseControlReport({ type: 'started' })).toBeNull();
    expect(parseControlReport('hello')).toBeNull();
    expect(parseControlReport({ type: 'ack' })).toBeNull();
  });
});
