import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverNodeArgs, serverProcessEnv } from './server-process.js';
import type { PeerFaultRule } from '../faults/peer-faults.js';
import { controlEnvKey, controlEnvValue, parseControlReport, type ControlReport, type StartTiming } from './control.js';
import { guard } from './lifeline.js';
import { MemberLog } from './member-log.js';
import { scaled, waitFor } from './wait.js';

/** The zkts package this file belongs to: it runs from dist/src/testing/, or from src/testing/ under a TypeScript runner. */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'bin', 'zkts.js')) && existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the zkts package (bin/zkts.js) above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
export const packageRoot = findPackageRoot();
/** The `zkts` command, as a user runs it. */
const zktsEntry = path.join(packageRoot, 'bin', 'zkts.js');
const cliEntry = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

/** Deadlines of one member's lifecycle (scaled by ZKTS_TEST_TIME_FACTOR). */
export const memberStartTimeoutMs = 20_000;
export const memberStopTimeoutMs = 5_000;
const peerFaultsAckTimeoutMs = 5_000;

export type MemberState = 'stopped' | 'starting' | 'running' | 'paused';

export interface MemberProcessOptions {
  /** Named in messages. */
  name: string;
  configPath: string;
  /** Where every line the member writes is appended; null: memory only. */
  logFile: string | null;
  logLevel?: string;
  /** Extra environment for the process. */
  env?: Readonly<Record<string, string>>;
  /** Node flags for the process, e.g. --cpu-prof to profile a member. */
  nodeArgs?: readonly string[];
  /** Seeds the member's random peer fault choices. */
  seed: number;
  /** The peer fault rules a (re)started member begins with. */
  peerFaults?: () => readonly PeerFaultRule[];
}

/** How a member process ended. */
export interface MemberExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the launcher ended it (stop, kill) rather than it dying by itself. */
  expected: boolean;
  /** When it ended (Date.now()): which of several members went first. */
  at: number;
}

/**
 * `promise`'s value, or 'timeout' once `ms` have passed. Its timer also keeps the launcher's
 * event loop alive meanwhile (the member processes are unref'd).
 */
async function within<T>(ms: number, promise: Promise<T>): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

export class MemberStartError extends Error {
  constructor(
    message: string,
    /** The errno code the member gave, e.g. EADDRINUSE. */
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'MemberStartError';
  }
}

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One `zkts server <zoo.cfg>` child process under a launcher: spawned with a control channel
 * (IPC) and the lifeline, its output captured, and signals sent to it for kill (SIGKILL),
 * stop (SIGTERM), pause (SIGSTOP) and resume (SIGCONT). It can be started again after it
 * exits, on the same config. Emits 'exit' with a MemberExit.
 */
export class MemberProcess extends EventEmitter<{ exit: [MemberExit] }> {
  readonly log: MemberLog;
  state: MemberState = 'stopped';
  /** How the last process ended (null while one runs, or before the first start). */
  exit: MemberExit | null = null;
  /** Starts so far. */
  starts = 0;
  /** The client port the running process listens on, and when it got there. */
  clientPort: number | null = null;
  timing: StartTiming | null = null;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private nextSeq = 1;
  private readonly pendingAcks = new Map<number, Pending>();

  constructor(readonly options: MemberProcessOptions) {
    super();
    this.log = new MemberLog(options.logFile);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** A process exists: starting, running or paused. */
  get running(): boolean {
    return this.state !== 'stopped';
  }

  /**
   * Spawns the process and resolves once it listens (its 'started' report); rejects with a
   * MemberStartError naming why when it exits first or does not get there in time.
   */
  async start(timeoutMs = memberStartTimeoutMs): Promise<void> {
    if (this.state !== 'stopped') throw new Error(`${this.options.name} is already ${this.state}`);
    if (!existsSync(cliEntry)) throw new Error(`zkts is not built (${cliEntry} is missing): run \`npm run build\` first`);
    this.starts++;
    this.state = 'starting';
    this.exit = null;
    this.clientPort = null;
    this.timing = null;
    this.expectingExit = false;
    this.log.mark(`start #${this.starts} of ${this.options.name}`);
    const report = this.spawnChild();
    const outcome = await within(scaled(timeoutMs), Promise.race([report, this.exited.then(() => null)]));
    if (outcome !== null && outcome !== 'timeout' && outcome.type === 'started') {
      this.clientPort = outcome.clientPort;
      this.timing = outcome.timing;
      if (this.state === 'starting') this.state = 'running';
      return;
    }
    const failed = outcome !== null && outcome !== 'timeout' && outcome.type === 'failed' ? outcome : null;
    // A member that failed exits by itself once its last words are out; one that hangs is killed.
    if (failed !== null) await within(scaled(memberStopTimeoutMs), this.exited);
    if (this.child !== null) await this.kill();
    const exit = this.exit as MemberExit | null;
    const reason = outcome === 'timeout' ? `did not listen within ${scaled(timeoutMs)} ms` : failed !== null ? `failed: ${failed.message}` : `exited (code ${exit?.code}, signal ${exit?.signal})`;
    throw new MemberStartError(`${this.options.name} did not start: it ${reason}\n--- its last lines ---\n${this.log.tail(20)}`, failed?.code ?? null);
  }

  /** Spawns the process with its control channel and lifeline; resolves with its first report. */
  private spawnChild(): Promise<ControlReport> {
    const child = spawn(process.execPath, [...serverNodeArgs, ...(this.options.nodeArgs ?? []), zktsEntry, 'server', this.options.configPath], {
      cwd: packageRoot,
      env: { ...process.env, ...serverProcessEnv, ...this.options.env, [controlEnvKey]: controlEnvValue, ZKTS_LOG_LEVEL: this.options.logLevel ?? 'info' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child = child;
    guard(child);
    // Nothing here keeps the launcher alive: a test process that forgets close() still ends (and the lifeline ends the members).
    child.unref();
    child.channel?.unref();
    for (const stream of ['stdout', 'stderr'] as const) {
      const pipe = child[stream]!;
      pipe.on('data', (chunk: Buffer) => this.log.push(chunk, stream));
      (pipe as unknown as { unref(): void }).unref();
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const exit: MemberExit = { code, signal, expected: this.expectingExit, at: Date.now() };
        this.exit = exit;
        this.state = 'stopped';
        this.child = null;
        this.log.mark(`${this.options.name} exited (code ${code}, signal ${signal})`);
        for (const seq of [...this.pendingAcks.keys()]) this.settleAck(seq, `${this.options.name} exited`);
        this.emit('exit', exit);
        resolve();
      });
    });
    const report = new Promise<ControlReport>((resolve, reject) => {
      child.on('message', (message) => {
        const parsed = parseControlReport(message);
        if (parsed === null) return;
        if (parsed.type === 'started' || parsed.type === 'failed') resolve(parsed);
        else this.settleAck(parsed.seq, parsed.type === 'ack' ? null : parsed.reason);
      });
      child.once('error', reject);
    });
    child.send({ type: 'init', seed: this.options.seed, peerFaults: this.options.peerFaults?.() ?? [] });
    return report;
  }

  /** SIGKILL, and waits until the process is gone. */
  async kill(): Promise<void> {
    if (this.child === null) return;
    this.signal('SIGKILL', true);
    await this.waitForExit('SIGKILL');
  }

  /**
   * SIGTERM (after SIGCONT when paused); SIGKILL when it has not exited within `graceMs`.
   * Resolves with whether SIGKILL was needed: a server that ignores SIGTERM is a bug to report.
   */
  async stop(graceMs = memberStopTimeoutMs): Promise<boolean> {
    if (this.child === null) return false;
    if (this.state === 'paused') this.resume();
    this.signal('SIGTERM', true);
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.log.mark(`${this.options.name} ignored SIGTERM for ${scaled(graceMs)} ms: SIGKILL`);
      this.child?.kill('SIGKILL');
    }, scaled(graceMs));
    try {
      await this.waitForExit('SIGTERM');
    } finally {
      clearTimeout(timer);
    }
    return killed;
  }

  /** SIGSTOP: the process keeps its sockets open and does nothing at all. */
  pause(): void {
    if (this.state !== 'running') throw new Error(`${this.options.name} is ${this.state}; only a running server can be paused`);
    this.signal('SIGSTOP', false);
    this.state = 'paused';
  }

  /** SIGCONT. */
  resume(): void {
    if (this.state !== 'paused') throw new Error(`${this.options.name} is ${this.state}, not paused`);
    this.signal('SIGCONT', false);
    this.state = 'running';
  }

  /**
   * Waits until the kernel has carried out the last pause or resume: a signal is delivered
   * asynchronously, and a process busy on another core stops a moment later. Where there is no
   * /proc to ask (not Linux), it returns at once.
   */
  async settled(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    const stopped = this.state === 'paused';
    await waitFor(`${this.options.name} to be ${stopped ? 'stopped' : 'running again'}`, () => {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return true;
      }
      // The state letter follows the command name, which is in parentheses.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return (state === 'T') === stopped;
    }, { timeoutMs: memberStopTimeoutMs, intervalMs: 2 });
  }

  /**
   * Sends new peer fault rules; resolves once the member applied them. A paused member reads
   * them when it resumes, so for one the promise resolves at once.
   */
  sendPeerFaults(rules: readonly PeerFaultRule[]): Promise<void> {
    const child = this.child;
    if (child === null || !child.connected) return Promise.resolve();
    const seq = this.nextSeq++;
    if (this.state === 'paused') {
      child.send({ type: 'peerFaults', seq, rules });
      return Promise.resolve();
    }
    const acked = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.settleAck(seq, `no acknowledgement within ${scaled(peerFaultsAckTimeoutMs)} ms`), scaled(peerFaultsAckTimeoutMs));
      this.pendingAcks.set(seq, { resolve, reject, timer });
    });
    child.send({ type: 'peerFaults', seq, rules });
    return acked;
  }

  private settleAck(seq: number, failure: string | null): void {
    const pending = this.pendingAcks.get(seq);
    if (pending === undefined) return;
    this.pendingAcks.delete(seq);
    clearTimeout(pending.timer);
    if (failure === null) pending.resolve();
    else pending.reject(new Error(`${this.options.name} did not apply the peer fault rules: ${failure}`));
  }

  private signal(signal: NodeJS.Signals, ending: boolean): void {
    if (this.child === null) throw new Error(`${this.options.name} is not running; cannot send ${signal}`);
    if (ending) this.expectingExit = true;
    this.log.mark(`${signal} to ${this.options.name}`);
    this.child.kill(signal);
  }

  private async waitForExit(what: string): Promise<void> {
    const deadline = scaled(memberStopTimeoutMs * 2);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.options.name} did not exit within ${deadline} ms of ${what}`)), deadline);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}
