/**
 * Thin CLI over the simulator: `npm run sim -- --seed N`, `--seeds A..B` (default 1..100), `--verbose`.
 * A failing seed prints itself and its trace; rerunning that seed replays it exactly.
 */
import { runSeed } from './sim-run.js';
import type { SimReport } from './sim-types.js';

interface CliArgs {
  readonly seeds: number[];
  readonly verbose: boolean;
}

function parseArgs(argv: readonly string[]): CliArgs {
  let seeds: number[] = [];
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--verbose' || arg === '-v') verbose = true;
    else if (arg === '--seed') seeds = [parseSeed(argv[++i])];
    else if (arg === '--seeds') seeds = parseRange(argv[++i]);
    else throw new Error(`unknown argument ${arg}; use --seed N or --seeds A..B`);
  }
  // No wall clock or Math.random even here: the default run is a fixed, replayable range.
  if (seeds.length === 0) seeds = parseRange('1..100');
  return { seeds, verbose };
}

function parseSeed(text: string | undefined): number {
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) throw new Error(`bad seed ${String(text)}`);
  return seed;
}

function parseRange(text: string | undefined): number[] {
  const match = /^(\d+)\.\.(\d+)$/.exec(text ?? '');
  if (match === null) throw new Error(`bad range ${String(text)}; use A..B`);
  const from = parseSeed(match[1]);
  const to = parseSeed(match[2]);
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

function describe(report: SimReport): string {
  const s = report.stats;
  return `seed ${report.seed}: ${report.voters} voters + ${report.observers} observers, ${s.ticks} ticks, ${s.events} events, ` +
    `${s.committed} committed, writes ${s.writesAcked} acked/${s.writesRejected} rejected/${s.writesUnknown} unknown, ` +
    `${s.epochsEstablished} epochs, ${s.crashes} crashes, ${s.partitions} partitions, ${s.pauses} pauses, ${s.resets} resets, ` +
    `${s.truncations} truncs, ${s.snapshotsInstalled} snaps`;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  let failures = 0;
  for (const seed of args.seeds) {
    const report = runSeed(seed);
    if (report.ok) {
      if (args.verbose || args.seeds.length === 1) console.log(`ok   ${describe(report)}`);
      continue;
    }
    failures++;
    console.log(`FAIL ${describe(report)}\n  ${report.failure}\n  last trace lines:\n    ${report.trace.join('\n    ')}`);
    console.log(`  replay: npm run sim -- --seed ${seed}`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${args.seeds.length - failures}/${args.seeds.length} seeds passed in ${seconds}s`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main();
