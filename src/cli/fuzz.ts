import { randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Fuzzer, describeBatch, describeCase, suspects } from '../fuzz/campaign.js';
import { loadClientCorpus } from '../fuzz/client-cases.js';
import { confirm, crashSignature, type Reproduction, type ReproduceOptions } from '../fuzz/confirm.js';
import { connectionOf, readCrashers, replayCrasher, writeCrasher, type CrasherFile } from '../fuzz/crashers.js';
import type { HealthOptions } from '../fuzz/health.js';
import { minimizeCrasher } from '../fuzz/minimize.js';
import { FuzzServers, type ServerSetKind } from '../fuzz/servers.js';
import { packageRoot } from '../testing/member-process.js';
import type { CaseRun, FuzzTarget } from '../fuzz/targets.js';

const usage = `usage: zkts fuzz --target client|peer [options]     (npm run fuzz -- ...)

  --target client|peer   the client port, or the election port of a 3-member ensemble
  --servers standalone|ensemble   where client-port input goes (default standalone; peer: ensemble)
  --member follower|leader        which ensemble member gets client-port input (default follower)
  --seed S               32-bit seed (default: random, printed); a seed and a case number replay a case exactly
  --cases N              stop after N cases (a case is one connection's worth of inputs)
  --inputs N             stop after N inputs
  --first-case K         start at case K (with --cases 1: replay one case)
  --max-seconds T        stop starting batches after T seconds
  --batch N              inputs between health checks (default 2000 client, 500 peer)
  --parallel P           connections at once (default 4 client, 2 peer)
  --restart-every B      restart the servers and check them every B batches (default 5; 0: only at the end)
  --rss-max-mib M        largest RSS a member may reach (default 512)
  --crash-dir D          where crash files go (default data/fuzz-crashes)
  --replay FILE|DIR      replay crash files instead of fuzzing
  --minimize FILE        shrink a crash file to the connections and inputs it needs (writes FILE.min.json)
`;

interface Totals {
  /** Peer cases in which a member took an opening it must refuse (with the case's replay). */
  violations: string[];
  inputs: number;
  delivered: number;
  cases: number;
  batches: number;
  fuzzMs: number;
}

interface Crash {
  signature: string;
  count: number;
  file: string | null;
}

/** `zkts fuzz`: exits 0 when no crash was found, 1 when one was, 2 on bad arguments. */
export async function runFuzz(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage);
    return 0;
  }
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args,
      options: Object.fromEntries(['target', 'servers', 'member', 'seed', 'cases', 'inputs', 'first-case', 'max-seconds', 'batch', 'parallel', 'restart-every', 'rss-max-mib', 'crash-dir', 'replay', 'minimize', 'corpus'].map((k) => [k, { type: 'string' as const }])),
    }).values as Record<string, string | undefined>;
  } catch (err) {
    process.stderr.write(`zkts fuzz: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  const health: HealthOptions = { rssMaxMiB: numberOption(values, 'rss-max-mib', 512), sessionWaitMs: 20_000 };
  if (values.replay !== undefined) return replay(values.replay, health);
  if (values.minimize !== undefined) return minimize(values.minimize, health);
  const target = values.target as FuzzTarget | undefined;
  if (target !== 'client' && target !== 'peer') {
    process.stderr.write(`zkts fuzz: --target must be client or peer\n${usage}`);
    return 2;
  }
  const kind: ServerSetKind = target === 'peer' ? 'ensemble' : values.servers === 'ensemble' ? 'ensemble' : 'standalone';
  const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : randomInt(0x1_0000_0000);
  const options: ReproduceOptions = {
    target,
    seed,
    servers: kind,
    restart: false,
    corpus: loadClientCorpus(values.corpus ?? join(packageRoot, 'test', 'fixtures', 'zk38-frames.json')),
    batchInputs: numberOption(values, 'batch', target === 'client' ? 2000 : 500),
    parallel: numberOption(values, 'parallel', target === 'client' ? 4 : 2),
    health,
    clientMember: values.member === 'leader' ? 'leader' : 'follower',
  };
  const limits = {
    cases: numberOption(values, 'cases', Number.MAX_SAFE_INTEGER),
    inputs: numberOption(values, 'inputs', Number.MAX_SAFE_INTEGER),
    deadline: Date.now() + numberOption(values, 'max-seconds', 365 * 86_400) * 1000,
    restartEvery: numberOption(values, 'restart-every', 5),
  };
  if (limits.cases === Number.MAX_SAFE_INTEGER && limits.inputs === Number.MAX_SAFE_INTEGER && values['max-seconds'] === undefined) {
    process.stderr.write(`zkts fuzz: give --cases, --inputs or --max-seconds\n${usage}`);
    return 2;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // The launcher's lifeline kills the servers when this process exits.
    process.once(signal, () => process.exit(130));
  }
  const firstCase = numberOption(values, 'first-case', 0);
  const crashDir = resolve(values['crash-dir'] ?? 'data/fuzz-crashes');
  say(`zkts fuzz: target ${target}, ${kind}${kind === 'ensemble' && target === 'client' ? ` (input to the ${options.clientMember})` : ''}, seed ${seed}, from case ${firstCase}`);
  say(`replay: npm run fuzz -- --target ${target}${target === 'client' ? ` --servers ${kind}` : ''} --seed ${seed} --first-case ${firstCase} ...`);
  return campaign(options, limits, firstCase, crashDir);
}

/** Confirming a crash starts no replay after this (the run's --max-seconds). */
let confirmDeadline = Number.MAX_SAFE_INTEGER;

async function campaign(
  options: ReproduceOptions,
  limits: { cases: number; inputs: number; deadline: number; restartEvery: number },
  firstCase: number,
  crashDir: string,
): Promise<number> {
  const totals: Totals = { violations: [], inputs: 0, delivered: 0, cases: 0, batches: 0, fuzzMs: 0 };
  confirmDeadline = limits.deadline;
  const crashes = new Map<string, Crash>();
  let servers = await FuzzServers.start({ kind: options.servers });
  let fuzzer = await Fuzzer.start(servers, options, firstCase);
  let sinceRestart: number[] = [];
  let nextCase = firstCase;
  const done = () => totals.cases >= limits.cases || totals.inputs >= limits.inputs || Date.now() >= limits.deadline;
  try {
    while (!done()) {
      const result = await fuzzer.batch(limits.cases - totals.cases);
      totals.batches++;
      totals.cases += result.endCase - result.firstCase;
      totals.inputs += result.inputs;
      totals.delivered += result.delivered;
      totals.fuzzMs += result.fuzzMs;
      sinceRestart.push(...result.runs.map((r) => r.index).sort((a, b) => a - b));
      say(describeBatch(result, totals.inputs));
      totals.violations.push(...result.violations);
      let failed = result.health.failures.length > 0;
      if (failed) {
        const blamed = suspects(servers, result).map((r) => r.index).sort((a, b) => a - b);
        const batch = result.runs.map((r) => r.index).sort((a, b) => a - b);
        await finding(options, crashes, crashDir, result.health.failures, servers.outputTails(60), blamed, batch, false);
      } else if (limits.restartEvery > 0 && totals.batches % limits.restartEvery === 0) {
        failed = await restartCheck(options, crashes, crashDir, servers, fuzzer, sinceRestart);
        sinceRestart = [];
      }
      if (failed) {
        // Fresh servers: a crash may have left a log that no member can recover from.
        await fuzzer.close();
        await servers.destroy();
        servers = await FuzzServers.start({ kind: options.servers });
        const next = fuzzer.nextCase;
        fuzzer = await Fuzzer.start(servers, options, next);
        sinceRestart = [];
      }
    }
    if (sinceRestart.length > 0) await restartCheck(options, crashes, crashDir, servers, fuzzer, sinceRestart);
  } finally {
    nextCase = fuzzer.nextCase;
    await fuzzer.close();
    await servers.destroy();
  }
  const rate = totals.fuzzMs > 0 ? Math.round((totals.inputs * 1000) / totals.fuzzMs) : 0;
  say(`done: ${totals.inputs} inputs (${totals.delivered} delivered) in ${totals.cases} cases, ${totals.batches} batches; ${rate} inputs/s while sending; to go on: --first-case ${nextCase}`);
  let count = 0;
  for (const crash of crashes.values()) {
    count += crash.count;
    say(`crash x${crash.count}: ${crash.signature}${crash.file !== null ? `\n  saved: ${crash.file}` : ''}`);
  }
  say(count === 0 ? 'no crashes' : `${count} crash(es) of ${crashes.size} kind(s)`);
  for (const v of totals.violations) say(`handshake violation (replay: --seed ${options.seed} --first-case N --cases 1 with the case number): ${v}`);
  say(totals.violations.length === 0 ? 'no handshake violations' : `${totals.violations.length} handshake violation(s)`);
  return count === 0 && totals.violations.length === 0 ? 0 : 1;
}

async function restartCheck(options: ReproduceOptions, crashes: Map<string, Crash>, crashDir: string, servers: FuzzServers, fuzzer: Fuzzer, cases: number[]): Promise<boolean> {
  let failures: string[];
  try {
    await servers.restart();
    failures = (await fuzzer.checker.check(-1)).failures;
  } catch (err) {
    failures = [`servers did not come back after a restart: ${(err as Error).message}`];
  }
  say(failures.length === 0 ? 'restart check: recovered and healthy' : `restart check FAILED: ${failures.join('; ')}`);
  if (failures.length === 0) return false;
  await finding({ ...options, restart: true }, crashes, crashDir, failures, servers.outputTails(60), cases, cases, true);
  return true;
}

async function finding(options: ReproduceOptions, crashes: Map<string, Crash>, crashDir: string, failures: string[], output: string, blamed: number[], batch: number[], restart: boolean): Promise<void> {
  const signature = crashSignature(output);
  say(`CRASH (seed ${options.seed}, cases ${blamed.length > 0 ? `${blamed[0]}-${blamed[blamed.length - 1]}` : 'none'}): ${failures.join('; ')}\n  signature: ${signature}\n${indent(output)}`);
  const known = crashes.get(signature);
  if (known !== undefined) {
    known.count++;
    say('  seen before: not confirmed again');
    return;
  }
  crashes.set(signature, { signature, count: 1, file: null });
  if (Date.now() > confirmDeadline) {
    say('  past --max-seconds: not confirmed');
    return;
  }
  const replayOptions = { ...options, restart };
  say(`  confirming against fresh servers (${blamed.length} suspect cases${restart ? ', with a restart' : ''})`);
  const found = await confirm(replayOptions, signature, blamed, batch, (line) => say(line), async (other) => {
    save(replayOptions, crashes, crashDir, other);
  });
  if (found === null) say('  not reproduced by replaying the suspects; replay the run from its first case to see it again');
  else save(replayOptions, crashes, crashDir, found);
}

/** Writes a confirmed crash's file (once per signature) and prints its inputs. */
function save(options: ReproduceOptions, crashes: Map<string, Crash>, crashDir: string, found: Reproduction): void {
  const signature = crashSignature(found.output);
  const crash = crashes.get(signature) ?? { signature, count: 0, file: null };
  crashes.set(signature, crash);
  if (crash.file !== null) return;
  const last = found.runs[found.runs.length - 1]!;
  const crasher: CrasherFile = {
    name: `${options.target} (${last.member}): ${last.peer !== null ? (last.peer.messages[last.peer.messages.length - 1]?.what ?? `opening '${last.peer.opening.shape}'`) : (last.chunks[last.chunks.length - 1]?.what ?? 'no input')}`,
    target: options.target,
    servers: options.servers,
    connections: found.runs.map(connectionOf),
    parallel: found.runs.length > 1 ? options.parallel : 1,
    found: {
      seed: options.seed,
      cases: found.cases,
      replay: `npm run fuzz -- --target ${options.target}${options.target === 'client' ? ` --servers ${options.servers}` : ''} --seed ${options.seed} --first-case ${found.cases[0]} --cases ${found.cases.length}`,
      failures: found.failures,
      output: found.output,
    },
  };
  crash.file = writeCrasher(crashDir, `${options.target}-${options.servers}-seed${options.seed}-case${found.cases[found.cases.length - 1]}.json`, crasher);
  say(`  reproduced by ${found.cases.length === 1 ? `case ${found.cases[0]} alone` : `cases ${found.cases.join(',')}`} (${signature}); saved ${crash.file}`);
  for (const run of found.runs.slice(-3)) say(describeRun(run));
}

function describeRun(run: CaseRun): string {
  const received = run.peer?.received ?? [];
  return `  ${describeCase(run)}:\n${[...run.chunks, ...received].map((c) => `    ${c.what}: ${c.bytes.length > 96 ? `${c.bytes.subarray(0, 96).toString('hex')}... (${c.bytes.length} bytes)` : c.bytes.toString('hex')}`).join('\n')}`;
}

async function replay(path: string, health: HealthOptions): Promise<number> {
  const files = path.endsWith('.json')
    ? [{ file: path, crasher: JSON.parse(readFileSync(path, 'utf8')) as CrasherFile }]
    : readCrashers(resolve(path));
  let bad = 0;
  for (const { file, crasher } of files) {
    const result = await replayCrasher(crasher, health);
    const failures = [...result.failures, ...result.restartFailures];
    say(`${failures.length === 0 ? 'survived' : 'FAILED'}: ${crasher.name} (${file})${failures.length > 0 ? `\n  ${failures.join('\n  ')}\n${indent(result.output)}` : ''}`);
    if (failures.length > 0) bad++;
  }
  return bad === 0 ? 0 : 1;
}

async function minimize(file: string, health: HealthOptions): Promise<number> {
  const crasher = JSON.parse(readFileSync(file, 'utf8')) as CrasherFile;
  const smaller = await minimizeCrasher(crasher, health, (line) => say(line));
  const out = file.replace(/\.json$/, '.min.json');
  writeFileSync(out, `${JSON.stringify(smaller, null, 2)}\n`);
  say(`written: ${out}`);
  for (const c of smaller.connections) say(`  to the ${c.member}${c.hello !== null ? ` as the ${c.hello}` : ''}:\n${c.inputs.map((i) => `    ${i.what}: ${i.hex.length > 200 ? `${i.hex.slice(0, 200)}...` : i.hex}`).join('\n')}`);
  return 0;
}

function numberOption(values: Record<string, string | undefined>, key: string, fallback: number): number {
  const text = values[key];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${key} must be a whole number, not '${text}'`);
  return n;
}

function indent(text: string): string {
  return text.split('\n').map((l) => `    ${l.length > 2000 ? `${l.slice(0, 2000)}...` : l}`).join('\n');
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

