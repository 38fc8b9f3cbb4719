import { describe, expect, it } from 'vitest';
import { HostCycle } from '../../src/client/host-cycle.js';

const hosts = [
  { host: 'a', port: 1 },
  { host: 'b', port: 2 },
  { host: 'c', port: 3 },
];

describe('HostCycle', () => {
  it('tries every host in turn, wrapping around', () => {
    const cycle = new HostCycle(hosts, 100, 1000);
    const names = Array.from({ length: 5 }, () => cycle.next().host);
    expect(names).toEqual(['a', 'b', 'c', 'a', 'b']);
  });

  it('pauses only after a whole round failed, doubling the pause up to the max', () => {
    const cycle = new HostCycle(hosts, 100, 300);
    const pauses = Array.from({ length: 12 }, () => cycle.failed());
    expect(pauses.filter((_, i) => (i + 1) % 3 !== 0)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const roundEnds = pauses.filter((_, i) => (i + 1) % 3 === 0);
    // Jittered within [base/2, base): bases 100, 200, 300, 300.
    [100, 200, 300, 300].forEach((base, i) => {
      expect(roundEnds[i]).toBeGreaterThanOrEqual(base / 2);
      expect(roundEnds[i]).toBeLessThan(base);
    });
  });

  it('starts a fresh round with the smallest pause once a session is established', () => {
    const cycle = new HostCycle(hosts, 100, 1000);
    for (let i = 0; i < 7; i++) cycle.failed();
    cycle.connected();
    expect([cycle.failed(), cycle.failed()]).toEqual([0, 0]);
    const pause = cycle.failed();
    expect(pause).toBeGreaterThanOrEqual(50);
    expect(pause).toBeLessThan(100);
  });
});
