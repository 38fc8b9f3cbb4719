import { parseArgs } from 'node:util';
import { createRootLogger } from '../logger.js';
import { purge } from '../storage/index.js';

/** `zkts purge <dataDir> [dataLogDir] [-n N]`: keep the N newest snapshots (at least 3) and the logs they need. */
export async function runPurge(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { count: { type: 'string', short: 'n', default: '3' } } });
  const [dataDir, dataLogDir] = positionals;
  const count = Number(values.count);
  if (dataDir === undefined || !Number.isInteger(count) || count < 3) {
    process.stderr.write('usage: zkts purge <dataDir> [dataLogDir] [-n N]   (N >= 3 snapshots to keep)\n');
    return 2;
  }
  const log = createRootLogger({ level: 'warn' });
  const result = await purge(dataDir, dataLogDir ?? dataDir, count, { log });
  for (const file of [...result.snapshotsRemoved, ...result.segmentsRemoved]) process.stdout.write(`removed ${file}\n`);
  process.stdout.write(`${result.snapshotsRemoved.length} snapshot(s) and ${result.segmentsRemoved.length} log segment(s) removed\n`);
  return 0;
}
