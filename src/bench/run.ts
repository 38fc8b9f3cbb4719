// One `zkts bench` run: open the sessions, prepare the workload's znodes under a fresh root,
// run n operations with a fixed number in flight, measure, clean up. A run that sees any
// error stops issuing operations and is reported as failed: it is not a result.
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { errorLabel, openSession, type BenchSession, type ClientKind } from './clients.js';
import { machineBusyPercent, processUsage, sampleMachine, sampleProcess, type ProcessUsage } from './proc-stats.js';
import { summarizeLatencies, type LatencySummary } from './stats.js';
import { workload, type WorkloadName } from './workloads.js';

/** A session that has not been established within this long is an error. */
const connectTimeoutMsMax = 15_000;
/** After the first error, operations already sent get this long to be answered. */
const settleAfterErrorMs = 3_000;
/** The clean-up gets at least this long after a clean run, even when the run used up its time... */
const cleanupMsMin = 30_000;
/** ...and this long after a run with errors (the server may be gone). */
const cleanupAfterErrorMs = 3_000;
/** Closing the sessions is not waited for longer than this. */
const closeTimeoutMs = 2_000;

export interface BenchOptions {
  workload: WorkloadName;
  client: ClientKind;
  /** "host:port" each; session i talks only to hosts[i mod hosts.length]. */
  hosts: string[];
  n: number;
  sessions: number;
  /** Requests in flight per session. */
  window: number;
  /** Bytes of data per create and setData. */
  size: number;
  /** Server processes whose CPU time, syscalls and RSS are reported for the timed phase. */
  pids: number[];
  /** The whole run (connect, prepare, operations) must end within this; the clean-up has its own allowance. */
  timeoutMs: number;
  /** Leave the znodes under the root (for a later look, or a memory measurement). */
  keep: boolean;
}

export interface ErrorTally {
  count: number;
  byCode: Record<string, number>;
  first: string | null;
}

export interface BenchResult {
  tool: 'zkts bench';
  format: 1;
  workload: WorkloadName;
  client: ClientKind;
  hosts: string[];
  n: number;
  sessions: number;
  window: number;
  inFlight: number;
  size: number;
  root: string;
  startedAt: string;
  /** True when all n operations were answered without error. */
  ok: boolean;
  completed: number;
  reads: number;
  writes: number;
  elapsedMs: number;
  opsPerSec: number;
  latencyMs: LatencySummary;
  errors: ErrorTally;
  phasesMs: { connect: number; prepare: number; cleanup: number };
  /** Whether every znode of the run was deleted; null with --keep, or when no session was opened. */
  cleanup: { ok: boolean; error: string | null } | null;
  /** What each --pids process used during the timed phase (RSS at its end). */
  servers: ProcessUsage[];
  /** This process (the client) during the timed phase. */
  clientCpuMs: number;
  machine: { cores: number; busyPercent: number; loadAverage: number[] };
}

class Errors implements ErrorTally {
  count = 0;
  byCode: Record<string, number> = {};
  first: string | null = null;

  add(label: string, detail: string): void {
    this.count++;
    this.byCode[label] = (this.byCode[label] ?? 0) + 1;
    this.first ??= detail;
  }

  addError(error: unknown, what: string): void {
    this.add(errorLabel(error), `${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

interface DriveOutcome {
  completed: number;
  writes: number;
  endedAt: number;
}

/**
 * Runs op(session, i) for i in [0, count): `window` loops per session take the next index as
 * soon as their previous operation is answered. Latencies of answered operations go to
 * `latencies` in the order they complete. Stops issuing at the first error or the deadline.
 * Errors are named `${what} ${i}`.
 */
async function drive(
  what: string,
  sessions: BenchSession[],
  window: number,
  count: number,
  op: (session: BenchSession, i: number) => Promise<void>,
  isWrite: (i: number) => boolean,
  deadline: number,
  errors: Errors,
  latencies?: Float64Array,
): Promise<DriveOutcome> {
  let next = 0;
  let completed = 0;
  let writes = 0;
  let stopped = false;
  // Set when drive returns: answers that arrive later are not counted (they were counted as missing).
  let over = false;
  let signalFirstError = (): void => {};
  const firstError = new Promise<void>((resolve) => (signalFirstError = resolve));
  const errorsBefore = errors.count;
  let endedAt = performance.now();
  const loop = async (session: BenchSession): Promise<void> => {
    while (!stopped && next < count) {
      const i = next++;
      const sentAt = performance.now();
      try {
        await op(session, i);
      } catch (error) {
        if (over) return;
        errors.addError(error, `${what} ${i}`);
        stopped = true;
        signalFirstError();
        return;
      }
      if (over) return;
      endedAt = performance.now();
      if (latencies !== undefined) latencies[completed] = endedAt - sentAt;
      completed++;
      if (isWrite(i)) writes++;
    }
  };
  const loops: Promise<void>[] = [];
  for (const session of sessions) for (let w = 0; w < window; w++) loops.push(loop(session));
  // Every loop ends once its last operation is answered; a client that holds requests while it
  // cannot reach a server could make that never, so the deadline and the first error bound it.
  const timers: NodeJS.Timeout[] = [];
  const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => timers.push(setTimeout(() => resolve(value), Math.max(0, ms))));
  const end = await Promise.race([
    Promise.all(loops).then(() => 'answered' as const),
    after(deadline - Date.now(), 'deadline' as const),
    firstError.then(() => after(settleAfterErrorMs, 'unsettled' as const)),
  ]);
  for (const timer of timers) clearTimeout(timer);
  stopped = true;
  over = true;
  if (end !== 'answered') {
    const unanswered = next - completed - (errors.count - errorsBefore);
    const why = end === 'deadline' ? 'no reply before the run timed out' : `no reply within ${settleAfterErrorMs} ms of the first error`;
    for (let k = 0; k < unanswered; k++) errors.add('NO_REPLY', why);
  }
  return { completed, writes, endedAt };
}

async function openSessions(o: BenchOptions, count: number, deadline: number, errors: Errors): Promise<BenchSession[]> {
  const timeoutMs = Math.max(1, Math.min(connectTimeoutMsMax, deadline - Date.now()));
  const attempts = await Promise.allSettled(Array.from({ length: count }, (_, i) => openSession(o.client, o.hosts[i % o.hosts.length]!, timeoutMs)));
  const sessions: BenchSession[] = [];
  attempts.forEach((a, i) => {
    if (a.status === 'fulfilled') sessions.push(a.value);
    else errors.addError(a.reason, `session ${i} to ${o.hosts[i % o.hosts.length]}`);
  });
  return sessions;
}

async function closeAll(sessions: BenchSession[]): Promise<void> {
  await beforeDeadline(Promise.allSettled(sessions.map((s) => s.close())), Date.now() + closeTimeoutMs, 'closing').catch(() => undefined);
}

/** Deletes the root and everything under it; a znode already gone is not an error. */
async function removeTree(sessions: BenchSession[], window: number, root: string, deadline: number): Promise<void> {
  const gone = (error: unknown): void => {
    if (errorLabel(error) !== 'NONODE') throw error;
  };
  let children: string[];
  try {
    children = await beforeDeadline(sessions[0]!.children(root), deadline, 'listing the children');
  } catch (error) {
    return gone(error);
  }
  const errors = new Errors();
  await drive('deleting child', sessions, window, children.length, (s, i) => s.delete(`${root}/${children[i]}`).catch(gone), () => true, deadline, errors);
  if (errors.count > 0) throw new Error(`${errors.count} deletes failed (${errors.first})`);
  await beforeDeadline(sessions[0]!.delete(root).catch(gone), deadline, 'deleting the root');
}

/** `promise`, or a rejection naming `what` once `deadline` (a Date.now() time) has passed. */
async function beforeDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no reply in time`)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function rootFor(o: BenchOptions): string {
  return `/zkts-bench-${o.workload}-${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** What the timed phase measured. */
interface Measured {
  outcome: DriveOutcome;
  elapsedMs: number;
  servers: ProcessUsage[];
  clientCpuMs: number;
  busyPercent: number;
}

/** Creates the root and the workload's znodes, then runs and measures the n operations. */
async function prepareAndMeasure(
  o: BenchOptions,
  sessions: BenchSession[],
  window: number,
  root: string,
  deadline: number,
  errors: Errors,
  latencies: Float64Array,
  phasesMs: BenchResult['phasesMs'],
): Promise<Measured | null> {
  const w = workload(o.workload);
  const data = randomBytes(o.size);
  const t = performance.now();
  await beforeDeadline(sessions[0]!.create(root, Buffer.alloc(0)), deadline, `creating ${root}`);
  // Preparing is not measured: it uses the window asked for even when the workload does not.
  await drive('preparing znode', sessions, o.window, w.prepared(o.n), (s, i) => s.create(`${root}/${w.childName(i)}`, data), () => true, deadline, errors);
  phasesMs.prepare = performance.now() - t;
  if (errors.count > 0) return null;

  const before = o.pids.map(sampleProcess);
  const machineBefore = sampleMachine();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const outcome = await drive('operation', sessions, window, o.n, (s, i) => w.run(s, root, i, data, o.n), (i) => w.isWrite(i), deadline, errors, latencies);
  const elapsedMs = (outcome.completed > 0 ? outcome.endedAt : performance.now()) - start;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    outcome,
    elapsedMs,
    busyPercent: machineBusyPercent(machineBefore, sampleMachine()),
    servers: o.pids.map((pid, k) => processUsage(before[k]!, sampleProcess(pid))),
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const sequential = workload(o.workload).sequential;
  const sessionCount = sequential ? 1 : o.sessions;
  const window = sequential ? 1 : o.window;
  const startedAt = new Date();
  const deadline = Date.now() + o.timeoutMs;
  const errors = new Errors();
  const root = rootFor(o);
  const latencies = new Float64Array(o.n);
  const phasesMs = { connect: 0, prepare: 0, cleanup: 0 };
  // Fails early, naming the pid, when a --pids process does not exist.
  const pidsAtStart = o.pids.map(sampleProcess);

  const t = performance.now();
  const sessions = await openSessions(o, sessionCount, deadline, errors);
  phasesMs.connect = performance.now() - t;
  let measured: Measured | null = null;
  let cleanup: BenchResult['cleanup'] = null;
  try {
    if (errors.count === 0) measured = await prepareAndMeasure(o, sessions, window, root, deadline, errors, latencies, phasesMs);
  } catch (error) {
    errors.addError(error, 'preparing the run');
  } finally {
    if (!o.keep && sessions.length > 0) {
      const t = performance.now();
      const cleanupDeadline = errors.count > 0 ? Date.now() + cleanupAfterErrorMs : Math.max(deadline, Date.now() + cleanupMsMin);
      cleanup = await removeTree(sessions, o.window, root, cleanupDeadline).then(
        () => ({ ok: true, error: null }),
        (error: unknown) => ({ ok: false, error: error instanceof Error ? error.message : String(error) }),
      );
      phasesMs.cleanup = performance.now() - t;
    }
    await closeAll(sessions);
  }
  const outcome = measured?.outcome ?? { completed: 0, writes: 0, endedAt: 0 };
  const elapsedMs = measured?.elapsedMs ?? 0;
  return {
    tool: 'zkts bench',
    format: 1,
    workload: o.workload,
    client: o.client,
    hosts: o.hosts,
    n: o.n,
    sessions: sessionCount,
    window,
    inFlight: sessionCount * window,
    size: o.size,
    root,
    startedAt: startedAt.toISOString(),
    ok: errors.count === 0 && outcome.completed === o.n,
    completed: outcome.completed,
    reads: outcome.completed - outcome.writes,
    writes: outcome.writes,
    elapsedMs,
    opsPerSec: elapsedMs > 0 ? (outcome.completed * 1000) / elapsedMs : 0,
    latencyMs: summarizeLatencies(latencies, outcome.completed),
    errors: { count: errors.count, byCode: errors.byCode, first: errors.first },
    phasesMs,
    cleanup,
    servers: measured?.servers ?? pidsAtStart.map((s) => processUsage(s, s)),
    clientCpuMs: measured?.clientCpuMs ?? 0,
    machine: { cores: cpus().length, busyPercent: measured?.busyPercent ?? 0, loadAverage: loadavg() },
  };
}
