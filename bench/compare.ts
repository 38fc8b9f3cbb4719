// zkts next to Apache ZooKeeper 3.8, on this machine, measured the same way.
//
// Starts a three-member ZooKeeper ensemble (Debian's package; installed with apt-get when
// missing) and a three-member zkts ensemble on other loopback ports, with the same zoo.cfg
// settings, and measures both through the same client (node-zookeeper-client 1.1.3, written by
// neither side) driven by `zkts bench` in a process of its own:
//   warm-up    every workload once on each side, not recorded;
//   quiet      every workload, zkts then ZooKeeper, --rounds times;
//   noise      every workload twice in a row on the same side: how far two runs of one
//              side differ, which is how big a ratio must be to mean something;
//   contended  the quiet rounds again with --contend processes burning CPU next to them;
//   idle       CPU each member uses over --idle-seconds with no clients;
//   memory     RSS of each member before and after --znodes znodes of 128 B;
//   failover   kill -9 of the leader, time until a write sent after the kill succeeds
//              through a survivor; the killed member is restarted between rounds.
// Both ensembles (and the CPU burners) are stopped and their directories removed on exit, on
// Ctrl-C and on failure; a watchdog does it if this process is killed outright.
//
//   npm run bench:compare                        the full run (about 5 minutes on 2 idle cores, longer on busy ones)
//   npm run bench:compare -- --quick             a smoke run of every phase
//   npm run bench:compare -- --workloads create,get --rounds 5 --skip noise,failover
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openSession } from '../src/bench/clients.js';
import { sampleProcess } from '../src/bench/proc-stats.js';
import type { BenchResult } from '../src/bench/run.js';
import { median } from '../src/bench/stats.js';
import { workloadNames, type WorkloadName } from '../src/bench/workloads.js';
import { serverNodeArgs, serverProcessEnv } from '../src/testing/server-process.js';
import { waitFor } from '../src/testing/wait.js';
import {
  Ensemble,
  ProcessRegistry,
  ensureZooKeeperInstalled,
  repoRoot,
  startWatchdog,
  zktsBin,
  zookeeperJvmOptions,
  type EnsembleSettings,
  type Side,
} from './compare-ensembles.js';
import { FigureTable, type Better } from './compare-report.js';

const phases = ['noise', 'contend', 'idle', 'memory', 'failover'] as const;
type Phase = (typeof phases)[number];

interface Options {
  workloads: WorkloadName[];
  rounds: number;
  n: number;
  latencyN: number;
  sessions: number;
  window: number;
  size: number;
  contend: number;
  failoverRounds: number;
  znodes: number;
  idleSeconds: number;
  skip: Set<Phase>;
  maxMinutes: number;
  settings: EnsembleSettings;
  quick: boolean;
}

/** A bench run that has not finished this long after its own --timeout is killed. */
const benchKillGraceMs = 60_000;
/** Seconds one bench run may take (its --timeout). */
const benchTimeoutS = 600;
/** After loading the znodes, members get this long before their RSS is read. */
const memorySettleMs = 5_000;
/** A failover round that has not seen a write succeed after the kill within this long fails. */
const failoverTimeoutMs = 60_000;
/** Between two failed writes in a failover round, so that a writer without a server does not spin. */
const failoverRetryPauseMs = 5;
/** The client every figure goes through. */
const client = 'node-zookeeper-client';

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      workloads: { type: 'string' },
      rounds: { type: 'string' },
      n: { type: 'string' },
      'latency-n': { type: 'string' },
      sessions: { type: 'string' },
      window: { type: 'string' },
      size: { type: 'string' },
      contend: { type: 'string' },
      'failover-rounds': { type: 'string' },
      znodes: { type: 'string' },
      'idle-seconds': { type: 'string' },
      skip: { type: 'string' },
      'max-minutes': { type: 'string' },
      'tick-time': { type: 'string' },
      'init-limit': { type: 'string' },
      'sync-limit': { type: 'string' },
      'snap-count': { type: 'string' },
      quick: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick!;
  const int = (name: string, text: string | undefined, full: number, smoke: number, min = 1): number => {
    if (text === undefined) return quick ? smoke : full;
    const v = Number(text);
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, not '${text}'`);
    return v;
  };
  const list = <T extends string>(name: string, text: string | undefined, allowed: readonly T[], fallback: readonly T[]): T[] => {
    if (text === undefined) return [...fallback];
    const items = text.split(',').map((s) => s.trim()).filter(Boolean);
    for (const item of items) if (!(allowed as readonly string[]).includes(item)) throw new Error(`--${name}: unknown '${item}' (one of ${allowed.join(', ')})`);
    return items as T[];
  };
  const tickTime = int('tick-time', values['tick-time'], 2000, 2000);
  return {
    workloads: list('workloads', values.workloads, workloadNames, workloadNames),
    rounds: int('rounds', values.rounds, 3, 1),
    n: int('n', values.n, 10_000, 500),
    latencyN: int('latency-n', values['latency-n'], 1_000, 100),
    sessions: int('sessions', values.sessions, 8, 8),
    window: int('window', values.window, 32, 32),
    size: int('size', values.size, 128, 128, 0),
    // Four CPU burners per core: a machine shared with other work (issue 15's setting: 8 on 2 cores).
    contend: int('contend', values.contend, 4 * cpus().length, cpus().length, 0),
    failoverRounds: int('failover-rounds', values['failover-rounds'], 5, 1),
    znodes: int('znodes', values.znodes, 100_000, 5_000),
    idleSeconds: int('idle-seconds', values['idle-seconds'], 20, 3),
    skip: new Set(list('skip', values.skip, phases, [])),
    maxMinutes: int('max-minutes', values['max-minutes'], 90, 20),
    settings: {
      tickTime,
      initLimit: int('init-limit', values['init-limit'], 10, 10),
      syncLimit: int('sync-limit', values['sync-limit'], 5, 5),
      snapCount: int('snap-count', values['snap-count'], 100_000, 100_000),
      // ZooKeeper's defaults, written out so that both sides get them: 2 and 20 ticks.
      minSessionTimeout: 2 * tickTime,
      maxSessionTimeout: 20 * tickTime,
    },
    quick,
  };
}

// ---------------------------------------------------------------------------------------
// Output

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const progress = (line: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const load = (): string => loadavg().map((v) => v.toFixed(2)).join(' ');

/** The JVM's version line and the flags it settles on with ZooKeeper's options (GC, heap). */
function javaDescription(): { version: string; flags: string } {
  const version = spawnSync('java', ['-version'], { encoding: 'utf8' }).stderr.split('\n')[0]?.trim() ?? 'unknown';
  const flags = spawnSync('java', [...zookeeperJvmOptions, '-XX:+PrintCommandLineFlags', '-version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? 'unknown';
  return { version, flags };
}

function printHeader(o: Options, zookeeperSource: string): void {
  const s = o.settings;
  out(`zkts vs Apache ZooKeeper 3.8 — npm run bench:compare${o.quick ? ' --quick (a smoke run: too short to be a result)' : ''}`);
  out(`date: ${new Date().toISOString()}`);
  out(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); load average at start ${load()}`);
  out(`ensembles: 3 members each on 127.0.0.1, the same zoo.cfg settings: tickTime=${s.tickTime} initLimit=${s.initLimit} syncLimit=${s.syncLimit}`);
  out(`  snapCount=${s.snapCount} minSessionTimeout=${s.minSessionTimeout} maxSessionTimeout=${s.maxSessionTimeout} admin.enableServer=false; own temp dataDirs`);
  out(`  fsync before every ack on both (ZooKeeper: forceSync=yes, its default; zkts always syncs)`);
  const java = javaDescription();
  out(`ZooKeeper: Debian's zookeeper 3.8.0 (${zookeeperSource}); ${java.version}`);
  out(`  org.apache.zookeeper.server.quorum.QuorumPeerMain, ${zookeeperJvmOptions.join(' ')} (the heap upstream's zkServer.sh gives it)`);
  out(`  JVM flags in effect: ${java.flags}`);
  const env = Object.entries(serverProcessEnv).map(([key, value]) => `${key}=${value}`).join(' ');
  out(`zkts: node ${process.version} ${serverNodeArgs.join(' ')} bin/zkts.js server (as \`zkts cluster\` starts it: ${env})`);
  out(`client: ${client} 1.1.3 in its own \`zkts bench --client ${client}\` process on the same machine;`);
  out(`  ${o.sessions} sessions x ${o.window} requests in flight each (${o.sessions * o.window} in all), ${o.size} B of data;`);
  out(`  sessions spread round-robin over the members, leader last (each side's leader gets the same sessions);`);
  out(`  ${o.n} operations per run (latency: ${o.latencyN}, one session, one in flight, through a follower)`);
  out(`runs: warm-up of every workload on both sides (not recorded), then A B (zkts, ZooKeeper) for each workload, ${o.rounds} round(s)`);
  out(`ratio: zkts/ZooKeeper, the median of the per-pair ratios [min-max]; "better" says which way is better for zkts`);
  out('differences that remain:');
  out('  - ZooKeeper runs on the JVM (heap capped at 1000 MB), zkts on Node.js 20 (its default heap limit)');
  out('  - zkts carries all peer traffic on one TCP connection per pair of members (the election port); ZooKeeper uses two ports');
  out("  - zkts's consensus core counts ticks of at most 20 ms whatever tickTime is, waking only for the ones with work (pings, deadlines); ZooKeeper's leader and followers tick every tickTime");
  out('  - both ensembles stay up while the other is measured: the idle one costs what the idle figures below say');
  out();
}

// ---------------------------------------------------------------------------------------
// Bench runs

interface RunFailure {
  failed: string;
}

/** Runs `zkts bench <workload> --json` against one side; a run with errors comes back as a failure. */
async function bench(ensemble: Ensemble, workload: WorkloadName, o: Options, extra: string[] = []): Promise<BenchResult | RunFailure> {
  const hosts = await ensemble.hostsLeaderLast();
  const n = workload === 'latency' ? o.latencyN : o.n;
  const args = [
    zktsBin, 'bench', workload, '--json', '--client', client, '--connect', hosts.join(','), '--n', String(n),
    '--sessions', String(o.sessions), '--window', String(o.window), '--size', String(o.size),
    '--pids', ensemble.pids().join(','), '--timeout', String(benchTimeoutS), ...extra,
  ];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), benchTimeoutS * 1000 + benchKillGraceMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(killer);
  const line = stdout.trim().split('\n').pop() ?? '';
  let result: BenchResult;
  try {
    result = JSON.parse(line) as BenchResult;
  } catch {
    return { failed: `${ensemble.side} ${workload}: zkts bench exited with ${code} without a result: ${stderr.trim().slice(0, 500)}` };
  }
  if (!result.ok) return { failed: `${ensemble.side} ${workload}: ${result.completed}/${result.n} answered, ${result.errors.count} errors (first: ${result.errors.first})` };
  return result;
}

const isFailure = (r: BenchResult | RunFailure): r is RunFailure => 'failed' in r;
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

/** The figures of one run that go in the tables, with which way is better and their digits. */
function figuresOf(r: BenchResult): [string, Better, number, number][] {
  const perOp = (total: number): number => total / r.completed;
  const rows: [string, Better, number, number][] = [
    ['ops/s', 'higher', 0, r.opsPerSec],
    ['p50 ms', 'lower', 2, r.latencyMs.p50],
    ['p99 ms', 'lower', 2, r.latencyMs.p99],
  ];
  if (r.workload === 'latency') rows.push(['max ms', 'lower', 2, r.latencyMs.max]);
  rows.push(
    ['server CPU µs/op (3 members)', 'lower', 1, perOp(sum(r.servers.map((s) => s.cpuMs)) * 1000)],
    ['cores the 3 members got (CPU ms / wall ms)', 'neither', 2, sum(r.servers.map((s) => s.cpuMs)) / r.elapsedMs],
    ['waiting for a CPU µs/op (all threads, 3 members)', 'lower', 1, perOp(sum(r.servers.map((s) => s.runQueueWaitMs)) * 1000)],
    // Near 1.0 the client process, one Node.js thread, is what limits the run.
    ['cores the client got', 'neither', 2, r.clientCpuMs / r.elapsedMs],
    // The same client on both sides: its CPU per op bounds the ratio when the machine is busy.
    ['client CPU µs/op', 'neither', 1, perOp(r.clientCpuMs * 1000)],
    ['syscalls/op (read+write, 3 members)', 'lower', 2, perOp(sum(r.servers.map((s) => (s.readSyscalls ?? 0) + (s.writeSyscalls ?? 0))))],
    ['context switches/op (3 members)', 'lower', 2, perOp(sum(r.servers.map((s) => s.voluntaryContextSwitches + s.involuntaryContextSwitches)))],
  );
  return rows;
}

/** The share of the machine used by anything but the measured ensemble and the client, in percent. */
function othersPercent(r: BenchResult): number {
  const measuredMs = sum(r.servers.map((s) => s.cpuMs)) + r.clientCpuMs;
  return Math.max(0, r.machine.busyPercent - (100 * measuredMs) / (r.elapsedMs * r.machine.cores));
}

interface PhaseLog {
  failures: string[];
  busy: number[];
  others: number[];
}

async function pairRounds(title: string, sides: [Ensemble, Ensemble], o: Options): Promise<{ table: FigureTable; log: PhaseLog }> {
  const table = new FigureTable(title);
  const log: PhaseLog = { failures: [], busy: [], others: [] };
  for (let round = 1; round <= o.rounds; round++) {
    for (const workload of o.workloads) {
      progress(`${title}: round ${round}/${o.rounds}, ${workload}`);
      const [a, b] = [await bench(sides[0], workload, o), await bench(sides[1], workload, o)];
      for (const r of [a, b]) {
        if (isFailure(r)) log.failures.push(r.failed);
        else {
          log.busy.push(r.machine.busyPercent);
          log.others.push(othersPercent(r));
        }
      }
      if (isFailure(a) || isFailure(b)) continue;
      const fb = figuresOf(b);
      figuresOf(a).forEach(([label, better, digits, value], i) => table.addPair(`${workload} ${label}`, better, digits, value, fb[i]![3]));
    }
  }
  return { table, log };
}

function printPhase(table: FigureTable, log: PhaseLog): void {
  out(table.format());
  if (log.busy.length > 0) {
    out(`machine during the timed runs: median ${median(log.busy).toFixed(0)} % of all cores busy; median ${median(log.others).toFixed(0)} % used by processes other than the measured ensemble and the client`);
  }
  for (const f of log.failures) out(`FAILED RUN (not counted): ${f}`);
  out();
}

/** Same side twice in a row: the ratio second/first shows how much one side's figures move by themselves. */
async function noise(sides: [Ensemble, Ensemble], o: Options): Promise<void> {
  const rows: string[][] = [];
  const ratios: number[] = [];
  for (const workload of o.workloads) {
    const cells: string[] = [workload];
    for (const side of sides) {
      progress(`noise: ${workload} twice on ${side.side}`);
      const first = await bench(side, workload, o);
      const second = await bench(side, workload, o);
      if (isFailure(first) || isFailure(second)) {
        cells.push('failed', 'failed');
        continue;
      }
      const opsRatio = second.opsPerSec / first.opsPerSec;
      const p99Ratio = second.latencyMs.p99 / first.latencyMs.p99;
      ratios.push(opsRatio, p99Ratio);
      cells.push(opsRatio.toFixed(2), p99Ratio.toFixed(2));
    }
    rows.push(cells);
  }
  const header = ['workload', 'zkts ops/s 2nd/1st', 'zkts p99 2nd/1st', 'ZooKeeper ops/s 2nd/1st', 'ZooKeeper p99 2nd/1st'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  out('noise: the same side twice in a row (ratio of the second run to the first; 1.00 = no change)');
  for (const r of [header, ...rows]) out(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  if (ratios.length > 0) {
    const worst = Math.max(...ratios.map((r) => Math.max(r, 1 / r)));
    out(`two runs of the same side differed by up to a factor ${worst.toFixed(2)}: ratios between sides closer to 1 than that are within the noise`);
  }
  out();
}

// ---------------------------------------------------------------------------------------
// CPU burners

const burnScript = `
  const [parent, , maxMs] = process.argv.slice(1).map((v, i) => (i === 1 ? v : Number(v)));
  const end = Date.now() + maxMs;
  const burn = () => {
    const until = Date.now() + 50;
    while (Date.now() < until) {}
    if (process.ppid !== parent || Date.now() > end) process.exit(0);
    setImmediate(burn);
  };
  burn();`;

/** Starts `count` processes that each keep one core busy until stop() (or this process) ends. */
function startBurners(count: number, registry: ProcessRegistry, maxMs: number): { stop(): void } {
  // The base directory in the arguments lets the watchdog recognise them.
  const children = Array.from({ length: count }, () => spawn(process.execPath, ['-e', burnScript, String(process.pid), registry.baseDir, String(maxMs)], { stdio: 'ignore' }));
  for (const child of children) registry.add(child);
  return { stop: () => children.forEach((c) => c.kill('SIGKILL')) };
}

// ---------------------------------------------------------------------------------------
// Idle CPU, memory, failover

async function idleCpu(sides: [Ensemble, Ensemble], o: Options): Promise<FigureTable> {
  progress(`idle: ${o.idleSeconds} s with no clients`);
  const before = sides.map((s) => s.pids().map(sampleProcess));
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, o.idleSeconds * 1000));
  const seconds = (performance.now() - start) / 1000;
  const percents = sides.map((s, k) => s.pids().map((pid, i) => (sampleProcess(pid).cpuMs - before[k]![i]!.cpuMs) / (10 * seconds)));
  const table = new FigureTable(`idle: CPU per member over ${o.idleSeconds} s with no clients (% of one core; one value per member)`);
  table.addUnpaired('idle CPU % per member', 'lower', 2, percents[0]!, percents[1]!);
  return table;
}

async function memory(sides: [Ensemble, Ensemble], o: Options): Promise<{ table: FigureTable; failures: string[] }> {
  const table = new FigureTable(`memory: RSS per member (MiB; one value per member), before and ${memorySettleMs / 1000} s after ${o.znodes} znodes of ${o.size} B`);
  const rss = (e: Ensemble): number[] => e.pids().map((pid) => sampleProcess(pid).rssKiB / 1024);
  const before = sides.map(rss);
  const after: number[][] = [];
  const failures: string[] = [];
  const loads: number[] = [];
  for (const side of sides) {
    progress(`memory: loading ${o.znodes} znodes into ${side.side}`);
    const r = await bench(side, 'create', { ...o, n: o.znodes }, ['--keep']);
    if (isFailure(r)) failures.push(r.failed);
    else loads.push(r.opsPerSec);
    await new Promise((resolve) => setTimeout(resolve, memorySettleMs));
    after.push(rss(side));
  }
  table.addUnpaired('RSS per member before the load', 'lower', 1, before[0]!, before[1]!);
  table.addUnpaired(`RSS per member with ${o.znodes} more znodes`, 'lower', 1, after[0]!, after[1]!);
  if (loads.length === 2) table.addPair(`the load itself, ops/s (one run of ${o.znodes} creates)`, 'higher', 0, loads[0]!, loads[1]!);
  return { table, failures };
}

/** Kills the leader, times the first write sent after the kill that succeeds, restarts the member. */
async function failoverRound(ensemble: Ensemble): Promise<number> {
  const leader = await ensemble.leader();
  const followers = ensemble.members.filter((m) => m !== leader);
  const session = await openSession(client, followers.map((m) => m.host).join(','), 20_000);
  const path = '/zkts-compare-failover';
  await session.create(path, Buffer.from('0')).catch(() => undefined);
  const successes: { sentAt: number; doneAt: number }[] = [];
  let writing = true;
  const writer = (async () => {
    for (let seq = 0; writing; seq++) {
      const sentAt = performance.now();
      try {
        await session.setData(path, Buffer.from(String(seq)));
        successes.push({ sentAt, doneAt: performance.now() });
      } catch {
        await new Promise((resolve) => setTimeout(resolve, failoverRetryPauseMs));
      }
    }
  })();
  const firstSuccessAfter = (t: number) => waitFor('a write after the kill', () => successes.find((s) => s.sentAt >= t), { timeoutMs: failoverTimeoutMs, intervalMs: 2 });
  try {
    await firstSuccessAfter(performance.now());
    const killedAt = performance.now();
    await leader.kill();
    const first = await firstSuccessAfter(killedAt);
    return first.doneAt - killedAt;
  } finally {
    writing = false;
    await Promise.race([writer, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await Promise.race([session.close(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
    if (!leader.running) ensemble.restart(leader);
    await ensemble.waitForQuorum();
  }
}

async function failover(sides: [Ensemble, Ensemble], o: Options): Promise<{ table: FigureTable; failures: string[] }> {
  const table = new FigureTable(`failover: kill -9 of the leader -> first write sent after the kill that succeeds (ms), ${o.failoverRounds} round(s)`);
  const failures: string[] = [];
  for (let round = 1; round <= o.failoverRounds; round++) {
    const times: (number | null)[] = [];
    for (const side of sides) {
      progress(`failover: round ${round}/${o.failoverRounds} on ${side.side}`);
      times.push(await failoverRound(side).catch((error: unknown) => (failures.push(`${side.side} round ${round}: ${(error as Error).message}`), null)));
    }
    if (times[0] != null && times[1] != null) table.addPair('failover ms', 'lower', 0, times[0], times[1]);
  }
  return { table, failures };
}

// ---------------------------------------------------------------------------------------
// The run

async function compare(o: Options, registry: ProcessRegistry, started: Ensemble[]): Promise<void> {
  const zookeeperSource = ensureZooKeeperInstalled();
  printHeader(o, zookeeperSource);
  progress('starting the zkts ensemble');
  const zkts = await Ensemble.start('zkts', o.settings, registry);
  started.push(zkts);
  progress('starting the ZooKeeper ensemble');
  const zookeeper = await Ensemble.start('ZooKeeper', o.settings, registry);
  started.push(zookeeper);
  const sides: [Ensemble, Ensemble] = [zkts, zookeeper];

  for (const workload of o.workloads) {
    for (const side of sides) {
      progress(`warm-up: ${workload} on ${side.side}`);
      const r = await bench(side, workload, o);
      if (isFailure(r)) throw new Error(`warm-up failed: ${r.failed}`);
    }
  }

  const quiet = await pairRounds(`quiet: ${o.rounds} round(s) of A B`, sides, o);
  printPhase(quiet.table, quiet.log);
  if (!o.skip.has('noise')) await noise(sides, o);
  if (!o.skip.has('contend') && o.contend > 0) {
    const burners = startBurners(o.contend, registry, o.maxMinutes * 60_000);
    try {
      const contended = await pairRounds(`contended: the same with ${o.contend} CPU-burning process(es) on the machine`, sides, o);
      printPhase(contended.table, contended.log);
    } finally {
      burners.stop();
    }
  }
  if (!o.skip.has('idle')) {
    out((await idleCpu(sides, o)).format());
    out();
  }
  if (!o.skip.has('memory')) {
    const m = await memory(sides, o);
    out(m.table.format());
    for (const f of m.failures) out(`FAILED RUN: ${f}`);
    out();
  }
  if (!o.skip.has('failover')) {
    const f = await failover(sides, o);
    out(f.table.format());
    out(`(${client} with spinDelay 100 ms, connected to the two followers; each side's killed member is restarted and back in step before the next round)`);
    for (const failure of f.failures) out(`FAILED ROUND: ${failure}`);
    out();
  }
  out(`load average at end ${load()}; finished ${new Date().toISOString()}`);
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench:compare: ${(error as Error).message}\n`);
    return 2;
  }
  const registry = new ProcessRegistry(mkdtempSync(path.join(tmpdir(), 'zkts-compare-')));
  startWatchdog(registry);
  const started: Ensemble[] = [];
  let finished = false;
  const removeAll = (): void => {
    registry.killAll();
    rmSync(registry.baseDir, { recursive: true, force: true });
  };
  process.once('exit', removeAll);
  for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench:compare: ${signal}: stopping both ensembles\n`);
      removeAll();
      process.exit(128 + number);
    });
  }
  const limit = setTimeout(() => {
    process.stderr.write(`bench:compare: still running after --max-minutes ${o.maxMinutes}: stopping\n`);
    removeAll();
    process.exit(1);
  }, o.maxMinutes * 60_000);
  limit.unref();
  try {
    await compare(o, registry, started);
    finished = true;
  } catch (error) {
    process.stderr.write(`bench:compare failed: ${(error as Error).message}\n`);
  } finally {
    clearTimeout(limit);
    await Promise.all(started.map((e) => e.stop()));
    removeAll();
  }
  return finished ? 0 : 1;
}

process.exitCode = await main();
