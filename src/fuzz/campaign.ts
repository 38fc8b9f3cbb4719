import { waitFor } from '../testing/wait.js';
import type { ClientCorpus } from './client-cases.js';
import { sampleMessages } from './peer-cases.js';
import { checkFuzzerMatchesTransport } from './wire-check.js';
import { HealthChecker, type HealthOptions, type HealthReport } from './health.js';
import { fuzzPeerSecret, type FuzzServers } from './servers.js';
import { ClientTarget, PeerTarget, type BatchContext, type CaseRun, type FuzzTarget, type TargetRunner } from './targets.js';

// A fuzz run in batches: cases go to the servers over a few connections at a time, then the
// health check decides whether the servers survived. The test suite and `zkts fuzz` both run
// batches through this one class.

export interface FuzzerOptions {
  target: FuzzTarget;
  seed: number;
  corpus: ClientCorpus;
  /** Inputs per batch; the health check runs after each. */
  batchInputs: number;
  /** Connections open at once. */
  parallel: number;
  health: HealthOptions;
  /** Client-port cases in an ensemble go to this member (followers forward writes). */
  clientMember?: 'leader' | 'follower';
}

export interface BatchResult {
  firstCase: number;
  /** One past the last case run. */
  endCase: number;
  inputs: number;
  delivered: number;
  connections: number;
  closedByServer: number;
  idle: number;
  refused: number;
  /** Peer cases: what members made of the openings (valid ones must be taken, broken ones refused). */
  handshakes: HandshakeCounts;
  /** Peer cases: a member took an opening it must refuse, or misbehaved in its own handshake. */
  violations: string[];
  /** Time sending cases, and time checking health and cleaning up afterwards. */
  fuzzMs: number;
  checkMs: number;
  health: HealthReport;
  runs: CaseRun[];
}

export interface HandshakeCounts {
  /** Openings that were valid, and of those the ones the member took (the probe was answered). */
  valid: number;
  validAccepted: number;
  /** Openings that must be refused and that the member can judge (no unfinished frame), and of those the ones it refused (it closed). */
  broken: number;
  brokenRefused: number;
}

function handshakeCounts(runs: readonly CaseRun[]): HandshakeCounts {
  const counts: HandshakeCounts = { valid: 0, validAccepted: 0, broken: 0, brokenRefused: 0 };
  for (const run of runs) {
    if (run.peer === null || run.refused) continue;
    if (run.peer.opening.expect === 'accepted') {
      counts.valid++;
      if (run.peer.handshake === 'accepted') counts.validAccepted++;
    } else if (run.peer.opening.expect === 'refused' && run.peer.opening.then === 'probe') {
      counts.broken++;
      if (run.peer.handshake === 'refused') counts.brokenRefused++;
    }
  }
  return counts;
}

/** How long a batch waits for an ensemble to have a leader before it starts. */
const leaderWaitMs = 20_000;
/** A member that exited this long after a case ended is not blamed on it. */
const blameWindowMs = 3000;

export function makeRunner(options: Pick<FuzzerOptions, 'target' | 'seed' | 'corpus'>): TargetRunner {
  return options.target === 'client' ? new ClientTarget(options.seed, options.corpus) : new PeerTarget(options.seed);
}

export class Fuzzer {
  nextCase: number;
  private round = 0;
  private readonly runner: TargetRunner;

  private constructor(
    readonly servers: FuzzServers,
    readonly checker: HealthChecker,
    readonly options: FuzzerOptions,
    firstCase: number,
  ) {
    this.nextCase = firstCase;
    this.runner = makeRunner(options);
  }

  /** Connects the health checker's session (before any fuzz input) and returns a fuzzer. */
  static async start(servers: FuzzServers, options: FuzzerOptions, firstCase = 0): Promise<Fuzzer> {
    if (options.target === 'peer') {
      if (servers.kind !== 'ensemble') throw new Error('the peer target needs an ensemble');
      await checkFuzzerMatchesTransport(fuzzPeerSecret, sampleMessages());
    }
    const checker = await HealthChecker.start(servers, options.health);
    const fuzzer = new Fuzzer(servers, checker, options, firstCase);
    // Listening for members' dials from the start, so that the first cases that answer one find it waiting.
    if (fuzzer.runner instanceof PeerTarget) await fuzzer.runner.dialInbox(servers);
    return fuzzer;
  }

  async close(): Promise<void> {
    await this.runner.close();
    await this.checker.close();
  }

  private async context(): Promise<BatchContext> {
    if (this.servers.kind === 'standalone') return { leader: 1, clientSid: 1 };
    const leader = await waitFor('a leader before the batch', () => this.servers.leaderSid(), { timeoutMs: leaderWaitMs, intervalMs: 50 });
    const followers = this.servers.members.map((m) => m.sid).filter((s) => s !== leader);
    return { leader, clientSid: this.options.clientMember === 'leader' ? leader : followers[0]! };
  }

  /**
   * Runs the next cases, `batchInputs` inputs' worth (at most `maxCases` cases), then the
   * health check; stops early when a member exits (the remaining cases are left for later).
   */
  async batch(maxCases = Number.MAX_SAFE_INTEGER): Promise<BatchResult> {
    const started = Date.now();
    const context = await this.context();
    const firstCase = this.nextCase;
    let end = firstCase;
    for (let budget = 0; budget < this.options.batchInputs && end - firstCase < maxCases; end++) budget += this.runner.inputCount(end);
    let next = firstCase;
    const runs: CaseRun[] = [];
    const worker = async () => {
      while (next < end && this.servers.exited().length === 0) {
        runs.push(await this.runner.run(next++, this.servers, context));
      }
    };
    await Promise.all(Array.from({ length: this.options.parallel }, worker));
    this.nextCase = next;
    const fuzzed = Date.now();
    const health = await this.checker.check(++this.round);
    if (health.failures.length === 0) await this.checker.cleanUp();
    return {
      firstCase,
      endCase: next,
      inputs: sum(runs, (r) => r.inputs),
      delivered: sum(runs, (r) => r.delivered),
      connections: runs.length,
      closedByServer: runs.filter((r) => r.closedByServer).length,
      idle: runs.filter((r) => r.idle).length,
      refused: runs.filter((r) => r.refused).length,
      handshakes: handshakeCounts(runs),
      violations: runs.flatMap((r) => (r.peer?.violations ?? []).map((v) => `case ${r.index}: ${v}`)),
      fuzzMs: fuzzed - started,
      checkMs: Date.now() - fuzzed,
      health,
      runs,
    };
  }
}

function sum<T>(items: readonly T[], f: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += f(item);
  return total;
}

/**
 * The cases a failed batch most likely owes its failure to, most recent first: those running
 * or just ended when the first member exited, or every case of the batch when none exited.
 */
export function suspects(servers: FuzzServers, result: BatchResult): CaseRun[] {
  const exits = servers.exited().map((m) => m.exit!.at);
  const byEnd = [...result.runs].sort((a, b) => b.endedAt - a.endedAt);
  if (exits.length === 0) return byEnd;
  const exitAt = Math.min(...exits);
  const blamed = byEnd.filter((r) => r.startedAt <= exitAt && r.endedAt >= exitAt - blameWindowMs);
  return blamed.length > 0 ? blamed : byEnd;
}

/** One line about a batch, for progress output. */
export function describeBatch(result: BatchResult, totalInputs: number): string {
  const rate = result.fuzzMs > 0 ? Math.round((result.inputs * 1000) / result.fuzzMs) : 0;
  const rss = [...result.health.rssMiB].map(([sid, mib]) => `${sid}:${mib.toFixed(0)}`).join(' ');
  const status = result.health.failures.length === 0 ? 'healthy' : `FAILED: ${result.health.failures.join('; ')}`;
  const h = result.handshakes;
  const handshakes = h.valid + h.broken > 0 ? `; handshakes: valid taken ${h.validAccepted}/${h.valid}, broken refused ${h.brokenRefused}/${h.broken}` : '';
  const violations = result.violations.length > 0 ? `; VIOLATIONS: ${result.violations.join('; ')}` : '';
  return `cases ${result.firstCase}-${result.endCase - 1}: ${result.inputs} inputs (${result.delivered} delivered, ${totalInputs} in all) over ${result.connections} connections in ${result.fuzzMs} ms (${rate}/s; check ${result.checkMs} ms); closed by server ${result.closedByServer}, idle ${result.idle}${handshakes}; RSS MiB ${rss}; ${status}${violations}`;
}

/** The command that replays a batch's cases exactly (same seed, same case numbers). */
export function replayCommand(options: Pick<FuzzerOptions, 'target' | 'seed'>, servers: FuzzServers, result: Pick<BatchResult, 'firstCase' | 'endCase'>): string {
  const where = options.target === 'client' ? ` --servers ${servers.kind}` : '';
  return `npm run fuzz -- --target ${options.target}${where} --seed ${options.seed} --first-case ${result.firstCase} --cases ${result.endCase - result.firstCase}`;
}

/** Everything a person needs about a failed batch: what failed, the likely inputs, the members' output, the replay. */
export function explainFailure(options: Pick<FuzzerOptions, 'target' | 'seed'>, servers: FuzzServers, result: BatchResult): string {
  const blamed = suspects(servers, result).slice(0, 3);
  const inputs = blamed.map((run) => `${describeCase(run)}:\n${run.chunks.map((c) => `    ${c.what}`).join('\n')}`);
  return [
    `fuzzing failed after cases ${result.firstCase}-${result.endCase - 1} of seed ${options.seed}:`,
    ...result.health.failures.map((f) => `  ${f}`),
    'most likely inputs:',
    ...inputs,
    servers.outputTails(30),
    `replay: ${replayCommand(options, servers, result)}`,
  ].join('\n');
}

/** Which case went where, as whom, and (peer cases) how its handshake went. */
export function describeCase(run: CaseRun): string {
  const peer = run.peer;
  if (peer === null) return `case ${run.index} to server ${run.sid} (${run.member})`;
  const how = peer.opening.side === 'dial' ? `dialled as ${peer.claimed}` : `dialling the fuzzer (server ${peer.claimed})`;
  return `case ${run.index}: server ${run.sid} (${run.member}) ${how}, opening '${peer.opening.shape}' ${peer.handshake}`;
}
