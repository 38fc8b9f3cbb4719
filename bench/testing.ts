// Start-to-ready time of a TestingCluster (zkts/testing): from TestingCluster.start() being
// called to it resolving, with one member leading and every member serving. Each run also
// says where the time went: ports, proxies and configs; each member process from spawn to
// listening (inside it: Node's own start, loading the server's modules, recovery and listen);
// the election. A bare `node -e 0` is timed too, for scale.
//
//   npm run bench:testing                        7 runs of a 3-member cluster
//   npm run bench:testing -- --runs 10 --size 5 --tick-time 200
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { TestingCluster } from '../src/testing/index.js';

function options(): { runs: number; size: number; tickTime: number } {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '7' },
      size: { type: 'string', default: '3' },
      'tick-time': { type: 'string', default: '200' },
    },
  });
  const int = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
    return n;
  };
  return { runs: int('runs', values.runs), size: int('size', values.size), tickTime: int('tick-time', values['tick-time']) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ms = (n: number): string => `${n.toFixed(0)} ms`;
const spread = (values: number[]): string => `min ${ms(Math.min(...values))}, median ${ms(median(values))}, max ${ms(Math.max(...values))}`;

/** Wall time of `node -e 0`: what any process the launcher spawns costs at least. */
async function bareNodeMs(): Promise<number> {
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
  return performance.now() - start;
}

async function main(): Promise<void> {
  const opts = options();
  process.stdout.write(`TestingCluster start-to-ready: ${opts.size} members, tickTime ${opts.tickTime} ms, ${opts.runs} runs\n`);
  const totals: number[] = [];
  const phases = { prepare: [] as number[], spawn: [] as number[], election: [] as number[], boot: [] as number[], load: [] as number[], listen: [] as number[], cpu: [] as number[] };
  for (let run = 1; run <= opts.runs; run++) {
    const cluster = await TestingCluster.start({ size: opts.size, tickTime: opts.tickTime, logLevel: 'info' });
    const t = cluster.startTiming!;
    await cluster.close();
    totals.push(t.totalMs);
    phases.prepare.push(t.prepareMs);
    phases.spawn.push(t.spawnMs);
    phases.election.push(t.electionMs);
    for (const m of t.members) {
      phases.boot.push(m.bootstrapMs);
      phases.load.push(m.loadedMs - m.bootstrapMs);
      phases.listen.push(m.listeningMs - m.loadedMs);
      phases.cpu.push(m.cpuMs);
    }
    const members = t.members.map((m) => `${m.id}: ${ms(m.spawnToListeningMs)}`).join(', ');
    process.stdout.write(`run ${run}: ready in ${ms(t.totalMs)} (prepare ${ms(t.prepareMs)}, spawn to all listening ${ms(t.spawnMs)} [${members}], election ${ms(t.electionMs)})\n`);
  }
  const bare: number[] = [];
  for (let i = 0; i < opts.runs; i++) bare.push(await bareNodeMs());
  process.stdout.write(
    [
      `inside each member (median over ${phases.boot.length}): Node's own start ${ms(median(phases.boot))}, loading the server ${ms(median(phases.load))}, recovery and listen ${ms(median(phases.listen))}; CPU used by then ${ms(median(phases.cpu))}`,
      `phases (median): prepare ${ms(median(phases.prepare))}, spawn to all listening ${ms(median(phases.spawn))}, election ${ms(median(phases.election))}`,
      `a bare node -e 0, one at a time: ${spread(bare)}`,
      `start-to-ready, ${opts.runs} runs: ${spread(totals)}`,
      '',
    ].join('\n'),
  );
}

await main();
