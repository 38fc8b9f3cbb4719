import { parseArgs } from 'node:util';
import { clientKinds, type ClientKind } from '../bench/clients.js';
import { runBench, type BenchOptions, type BenchResult } from '../bench/run.js';
import { workload, workloadNames, type WorkloadName } from '../bench/workloads.js';
import { parseConnectString } from '../client/connect-string.js';

const defaults = {
  connect: '127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183',
  n: 10_000,
  latencyN: 1_000,
  sessions: 8,
  window: 32,
  size: 128,
  timeoutS: 300,
};
/** A client that keeps reconnecting must not keep the command alive after it has reported. */
const exitGraceMs = 2_000;

const usage = `usage: zkts bench <workload> [options]

workloads (each works under a root znode of its own, prepared first and deleted after):
${workloadNames.map((name) => `  ${name.padEnd(8)} ${workload(name).summary}`).join('\n')}

options:
  --connect HOSTS   host:port[,host:port...] (default ${defaults.connect}, the ensemble
                    \`zkts cluster\` starts); session i talks only to host i mod the number of hosts
  --n N             operations in the timed phase (default ${defaults.n}; latency: ${defaults.latencyN})
  --sessions S      sessions, one connection each (default ${defaults.sessions})
  --window W        requests in flight per session (default ${defaults.window}): S x W in flight in all;
                    latency always uses 1 session with 1 request in flight
  --size B          bytes of data in each create and setData (default ${defaults.size})
  --client C        ${clientKinds.join(' | ')} (default zkts)
  --pids P[,P...]   server process ids: their CPU time, syscalls, context switches, time spent
                    waiting for a CPU (timed phase) and RSS (at its end), from /proc
  --timeout S       seconds the run may take (default ${defaults.timeoutS}); the clean-up gets 30 s more
  --keep            leave the znodes under the root
  --json            print one JSON object instead of text

A run with any error stops issuing operations, says so, and exits with status 1: it is not a result.
`;

class UsageError extends Error {}
class HelpRequested extends Error {}

function positiveInt(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`--${name} must be an integer >= ${min}, not '${text}'`);
  return value;
}

function parseOptions(args: string[]): BenchOptions & { json: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      connect: { type: 'string' },
      n: { type: 'string' },
      sessions: { type: 'string' },
      window: { type: 'string' },
      size: { type: 'string' },
      client: { type: 'string' },
      pids: { type: 'string' },
      timeout: { type: 'string' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) throw new HelpRequested();
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'name one workload' : `one workload at a time, not ${positionals.join(' ')}`);
  const name = positionals[0]!;
  if (!(workloadNames as readonly string[]).includes(name)) throw new UsageError(`unknown workload '${name}'`);
  const client = values.client ?? 'zkts';
  if (!(clientKinds as readonly string[]).includes(client)) throw new UsageError(`--client must be one of ${clientKinds.join(', ')}, not '${client}'`);
  const connect = parseConnectString(values.connect ?? defaults.connect);
  if (connect.chroot !== '') throw new UsageError(`--connect takes host:port[,host:port...] without a chroot, not '${values.connect}'`);
  return {
    workload: name as WorkloadName,
    client: client as ClientKind,
    hosts: connect.hosts.map((h) => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`)),
    n: positiveInt('n', values.n, name === 'latency' ? defaults.latencyN : defaults.n),
    sessions: positiveInt('sessions', values.sessions, defaults.sessions),
    window: positiveInt('window', values.window, defaults.window),
    size: positiveInt('size', values.size, defaults.size, 0),
    pids: values.pids === undefined ? [] : values.pids.split(',').map((p) => positiveInt('pids', p.trim(), 0)),
    timeoutMs: positiveInt('timeout', values.timeout, defaults.timeoutS) * 1000,
    keep: values.keep!,
    json: values.json!,
  };
}

const fixed = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const thousands = (v: number): string => Math.round(v).toLocaleString('en-US');

function perOp(total: number | null, ops: number, digits = 2): string {
  return total === null || ops === 0 ? '-' : (total / ops).toFixed(digits);
}

/** The human-readable report of one run. */
export function formatResult(r: BenchResult): string {
  const lines = [
    `zkts bench ${r.workload}: ${r.n} operations through ${r.client}, ${r.sessions} session(s) x ${r.window} in flight (${r.inFlight} in all), ${r.size} B, on ${r.hosts.join(',')}`,
  ];
  if (r.completed > 0) {
    const l = r.latencyMs;
    lines.push(`  ${thousands(r.completed)} answered in ${(r.elapsedMs / 1000).toFixed(2)} s: ${thousands(r.opsPerSec)} ops/s (${r.reads} reads, ${r.writes} writes)`);
    lines.push(`  latency ms: p50 ${fixed(l.p50, 2)}  p90 ${fixed(l.p90, 2)}  p99 ${fixed(l.p99, 2)}  p99.9 ${fixed(l.p999, 2)}  max ${fixed(l.max, 2)}  mean ${fixed(l.mean, 2)}`);
  }
  for (const s of r.servers) {
    const syscalls = s.readSyscalls === null ? 'syscalls -' : `syscalls ${perOp(s.readSyscalls, r.completed)} read + ${perOp(s.writeSyscalls, r.completed)} write per op`;
    lines.push(
      `  pid ${s.pid}: CPU ${thousands(s.cpuMs)} ms (${perOp(s.cpuMs * 1000, r.completed, 1)} µs/op), ${syscalls}, context switches ${perOp(s.voluntaryContextSwitches + s.involuntaryContextSwitches, r.completed)} per op, waited ${thousands(s.runQueueWaitMs)} ms for a CPU, RSS ${(s.rssKiB / 1024).toFixed(1)} MiB`,
    );
  }
  if (r.completed > 0) {
    lines.push(`  client CPU ${thousands(r.clientCpuMs)} ms; the machine's ${r.machine.cores} cores were ${r.machine.busyPercent.toFixed(0)} % busy; load average ${r.machine.loadAverage.map((v) => v.toFixed(2)).join(' ')}`);
  }
  lines.push(`  untimed: connect ${thousands(r.phasesMs.connect)} ms, prepare ${thousands(r.phasesMs.prepare)} ms, clean-up ${thousands(r.phasesMs.cleanup)} ms`);
  if (r.cleanup === null) lines.push(`  kept: ${r.root}`);
  else if (!r.cleanup.ok) lines.push(`  CLEAN-UP FAILED: ${r.cleanup.error} (znodes may be left under ${r.root})`);
  if (r.errors.count > 0) {
    const codes = Object.entries(r.errors.byCode).map(([code, count]) => `${code} ${count}`).join(', ');
    lines.push(`  ERRORS: ${r.errors.count} (${codes}); first: ${r.errors.first}`);
  }
  if (!r.ok) lines.push(`  NOT A RESULT: ${r.completed} of ${r.n} operations answered${r.errors.count > 0 ? ', with errors' : ''}`);
  return `${lines.join('\n')}\n`;
}

/** `zkts bench <workload> [options]`: 0 for a clean run, 1 for a run with errors, 2 for bad usage. */
export async function runBenchCommand(args: string[]): Promise<number> {
  let options: BenchOptions & { json: boolean };
  try {
    options = parseOptions(args);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(usage);
      return 0;
    }
    process.stderr.write(`zkts bench: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  let result: BenchResult;
  try {
    result = await runBench(options);
  } catch (error) {
    process.stderr.write(`zkts bench: ${(error as Error).message}\n`);
    return 1;
  }
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : formatResult(result));
  const code = result.ok ? 0 : 1;
  setTimeout(() => process.exit(code), exitGraceMs).unref();
  return code;
}
