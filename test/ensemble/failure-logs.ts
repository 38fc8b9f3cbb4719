// Vitest glue kept apart from the harness, so that the failover bench can use the harness too.
import { afterEach } from 'vitest';
import type { Cluster } from './cluster-harness.js';
import { logTailLinesDefault } from './cluster-harness.js';

/** Prints every member's log tail after each failed test of the file. */
export function dumpClusterLogsOnFailure(getCluster: () => Cluster | undefined, lines = logTailLinesDefault): void {
  afterEach((context) => {
    const cluster = getCluster();
    if (cluster === undefined || context.task.result?.state !== 'fail') return;
    process.stderr.write(`\n=== ensemble logs after failed test "${context.task.name}" ===\n${cluster.logTails(lines)}\n=== end of ensemble logs ===\n`);
  });
}
