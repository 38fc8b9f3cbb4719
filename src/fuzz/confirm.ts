import { HealthChecker } from './health.js';
import { makeRunner, type FuzzerOptions } from './campaign.js';
import { FuzzServers, type ServerSetKind } from './servers.js';
import type { BatchContext, CaseRun } from './targets.js';

// After a failed batch: which cases does the failure need? Cases are replayed by number (a
// seed regenerates them exactly) against fresh servers: the last few suspects one at a time,
// then, if none fails alone, the shortest prefix of the suspects that still fails.

export interface Reproduction {
  cases: number[];
  runs: CaseRun[];
  failures: string[];
  output: string;
}

/** Singles tried before prefixes: most crashes need one packet. */
const singlesTried = 5;

/** The first line that says why a member died, digits and paths blurred: crashes with one cause share it. */
export function crashSignature(output: string): string {
  const lines = output.split('\n');
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const record = JSON.parse(line) as { level?: number; err?: { message?: string; stack?: string } };
      if ((record.level ?? 0) >= 60 && record.err?.message !== undefined) {
        return blur(`${cause(record.err.message)} ${firstFrame(record.err.stack ?? '')}`);
      }
    } catch {
      // not pino output
    }
  }
  // Node's report of an uncaught error: the source line, a caret, then "SomeError: message".
  const error = lines.findIndex((l) => /^\w*Error: |^zkts: /.test(l));
  if (error >= 0) {
    const [, name, message] = /^(\w*Error|zkts): (.*)$/.exec(lines[error]!.trim()) ?? [];
    return blur(`${name}: ${cause(message ?? '')} ${firstFrame(lines.slice(error).join('\n'))}`);
  }
  return 'no stack trace';
}

function firstFrame(stack: string): string {
  return /\n\s+at ([^\n]+)/.exec(stack)?.[1]?.replace(/\(.*\/(dist\/)?/, '(') ?? '';
}

/**
 * The cause without its details: the first part of a message (before ': '), which for decoding
 * errors is followed by whatever the bytes happened to be; a file and offset keep the next part.
 */
function cause(message: string): string {
  const parts = message.split(': ');
  return (parts[0]!.includes(' at offset ') ? parts.slice(0, 2) : parts.slice(0, 1)).join(': ');
}

function blur(text: string): string {
  return text.replace(/\/\S*\/(zkts-fuzz-[^/\s]+)\/\S*/g, '<file>').replace(/0x[0-9a-f]+/gi, 'X').replace(/\d+/g, 'N').slice(0, 300);
}

export interface ReproduceOptions extends FuzzerOptions {
  servers: ServerSetKind;
  /** Also restart the servers and check again (a failure that only shows at recovery). */
  restart: boolean;
}

/**
 * Replays cases `indices` against fresh servers, `parallel` connections at a time as the run
 * did (some failures need two connections at once); failures empty when healthy.
 */
export async function reproduce(options: ReproduceOptions, indices: readonly number[], parallel = 1): Promise<Reproduction> {
  const servers = await FuzzServers.start({ kind: options.servers });
  let checker: HealthChecker | null = null;
  const runs: CaseRun[] = [];
  const runner = makeRunner(options);
  try {
    checker = await HealthChecker.start(servers, options.health);
    const leader = (await servers.leaderSid()) ?? 1;
    const followers = servers.members.map((m) => m.sid).filter((s) => s !== leader);
    const context: BatchContext = { leader, clientSid: servers.kind === 'standalone' ? 1 : options.clientMember === 'leader' ? leader : followers[0]! };
    let next = 0;
    const worker = async () => {
      while (next < indices.length && servers.exited().length === 0) runs.push(await runner.run(indices[next++]!, servers, context));
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    runs.sort((a, b) => a.startedAt - b.startedAt);
    let failures = (await checker.check(1)).failures;
    if (failures.length === 0 && options.restart) {
      try {
        await servers.restart();
        failures = (await checker.check(2)).failures;
      } catch (err) {
        failures = [`servers did not come back after a restart: ${(err as Error).message}`];
      }
    }
    return { cases: runs.map((r) => r.index), runs, failures, output: servers.outputTails(60) };
  } finally {
    await runner.close();
    await checker?.close();
    await servers.destroy();
  }
}

/**
 * The cases a failure with `signature` needs, found by replaying them against fresh servers,
 * or null when the replays do not show it again: the last few suspects one at a time; then the
 * suspects together (as many at once as the run had), halved while a half still fails; then
 * the whole batch. A replay that fails differently is handed to `other` (another crash).
 */
export async function confirm(
  options: ReproduceOptions,
  signature: string,
  suspects: readonly number[],
  batch: readonly number[],
  log: (line: string) => void,
  other: (found: Reproduction) => Promise<void>,
): Promise<Reproduction | null> {
  const matches = async (attempt: Reproduction, what: string): Promise<boolean> => {
    if (attempt.failures.length === 0) {
      log(`  ${what}: healthy`);
      return false;
    }
    const theirs = crashSignature(attempt.output);
    if (theirs === signature) {
      log(`  ${what}: fails the same way`);
      return true;
    }
    log(`  ${what}: fails another way (${theirs})`);
    await other(attempt);
    return false;
  };
  for (const index of [...suspects].reverse().slice(0, singlesTried)) {
    const alone = await reproduce(options, [index]);
    if (await matches(alone, `case ${index} alone`)) return alone;
  }
  const sets: [string, readonly number[]][] = [['the suspects', suspects]];
  if (batch.length > suspects.length) sets.push(['the whole batch', batch]);
  for (const [what, set] of sets) {
    if (set.length <= 1) continue;
    const together = await reproduce(options, set, options.parallel);
    if (await matches(together, `${what} (${set.length} cases) replayed`)) return halve(options, set, together, (attempt, label) => matches(attempt, label));
  }
  return null;
}

/** Keeps the half of a failing set that fails on its own (the first half, then the second), down to one case if it can. */
async function halve(
  options: ReproduceOptions,
  set: readonly number[],
  failing: Reproduction,
  matches: (attempt: Reproduction, what: string) => Promise<boolean>,
): Promise<Reproduction> {
  let current = [...set];
  let best = failing;
  while (current.length > 1) {
    const mid = Math.ceil(current.length / 2);
    let kept: Reproduction | null = null;
    for (const half of [current.slice(0, mid), current.slice(mid)]) {
      const attempt = await reproduce(options, half, half.length === 1 ? 1 : options.parallel);
      if (await matches(attempt, `cases ${half[0]}-${half[half.length - 1]} (${half.length})`)) {
        kept = attempt;
        current = half;
        break;
      }
    }
    if (kept === null) break;
    best = kept;
  }
  return best;
}
