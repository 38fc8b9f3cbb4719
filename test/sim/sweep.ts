import { expect } from 'vitest';
import type { SimReport } from '../../src/quorum/sim/sim-types.js';
import { runSeed } from '../../src/quorum/sim/sim-run.js';

/** Runs seeds [from, to) and fails with every failing seed and how to replay it. */
export function sweep(from: number, to: number): SimReport[] {
  const reports: SimReport[] = [];
  for (let seed = from; seed < to; seed++) reports.push(runSeed(seed));
  const failures = reports.filter((r) => !r.ok).map((r) => `seed ${r.seed}: ${r.failure}\n  replay: npm run sim -- --seed ${r.seed}`);
  expect(failures, failures.join('\n')).toEqual([]);
  for (const r of reports) {
    const s = r.stats;
    expect(s.crashes + s.partitions + s.pauses, `seed ${r.seed} ran without faults`).toBeGreaterThan(0);
    // The liveness phase commits fresh writes, so every run commits something.
    expect(s.committed, `seed ${r.seed} committed nothing`).toBeGreaterThan(0);
  }
  // Sessions are exercised too: opened, expired by leaders, revalidated after reconnecting.
  for (const key of ['sessionsOpened', 'sessionsExpired', 'revalidationsValid'] as const) {
    expect(total(reports, key), `no run had ${key}`).toBeGreaterThan(0);
  }
  return reports;
}

export function total(reports: SimReport[], key: keyof SimReport['stats']): number {
  return reports.reduce((sum, r) => sum + r.stats[key], 0);
}
