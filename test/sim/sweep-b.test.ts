import { describe, expect, it } from 'vitest';
import { sweep, total } from './sweep.js';

// Seeds 500..999 in chunks; the other half runs in the sibling file so two cores share the sweep.
describe('seeded simulator sweep, faults on every run (part b)', () => {
  const chunk = 100;
  for (let from = 500; from < 1000; from += chunk) {
    it(`seeds ${from}..${from + chunk - 1} keep every invariant and recover after heal`, () => {
      const reports = sweep(from, from + chunk);
      // The sweep must actually exercise the interesting paths, or it proves little.
      expect(total(reports, 'crashes')).toBeGreaterThan(0);
      expect(total(reports, 'partitions')).toBeGreaterThan(0);
      expect(total(reports, 'epochsEstablished')).toBeGreaterThan(chunk);
      expect(total(reports, 'truncations') + total(reports, 'snapshotsInstalled')).toBeGreaterThan(0);
    });
  }
});
