// Harness for the real-process ensemble suite: the API these tests were written against, as a
// thin layer over the one launcher, zkts/testing's TestingCluster (src/testing). Members are
// `zkts server` processes on loopback with ports reserved for the cluster's life, a short
// tickTime, and their output kept (a ring of lines and pino records in memory, all of it in a
// file) so that a failing test can print what each server was doing.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fourLetterWord as fourLetterWordAt } from '../../src/admin/four-letter-client.js';
import { TestingCluster } from '../../src/testing/cluster.js';
import type { MemberProcess } from '../../src/testing/member-process.js';
import type { LogRecord } from '../../src/testing/member-log.js';
import { packageRoot } from '../../src/testing/member-process.js';
import { reservePort } from '../../src/testing/ports.js';
import { scaled, waitFor, withDeadline, type WaitOptions } from '../support/wait.js';

export { waitFor, withDeadline, type WaitOptions, type LogRecord };

export const repoRoot = packageRoot;

/** Lines of each member's log printed after a failed test. */
export const logTailLinesDefault = 40;
const fourLetterWordTimeoutMs = 1_000;
const memberStartTimeoutMs = 20_000;
export const leaderElectionTimeoutMs = 20_000;

// ---------------------------------------------------------------------------
// Ports and four-letter words

/** Ports from the OS, all distinct (reserved while choosing, then let go). */
export async function freePorts(count: number): Promise<number[]> {
  const reservations = await Promise.all(Array.from({ length: count }, () => reservePort()));
  for (const r of reservations) r.close();
  return reservations.map((r) => r.port);
}

/** Sends a four-letter word and returns everything the server writes before closing. */
export function fourLetterWord(port: number, word: string, timeoutMs = fourLetterWordTimeoutMs): Promise<string> {
  return fourLetterWordAt('127.0.0.1', port, word, scaled(timeoutMs));
}

export interface ServerStatus {
  mode: string;
  zxid: bigint;
  nodeCount: number;
}

/** Parses `srvr`; undefined when the answer has no Mode line (not running, not answering). */
export function parseSrvr(text: string): ServerStatus | undefined {
  const mode = /^Mode: (\S+)/m.exec(text)?.[1];
  const zxid = /^Zxid: (0x[0-9a-fA-F]+)/m.exec(text)?.[1];
  if (mode === undefined || zxid === undefined) return undefined;
  const nodeCount = Number(/^Node count: (\d+)/m.exec(text)?.[1] ?? -1);
  return { mode, zxid: BigInt(zxid), nodeCount };
}

/** Parses `mntr` into key → value. */
export function parseMntr(text: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) rows.set(line.slice(0, tab), line.slice(tab + 1).trim());
  }
  return rows;
}

// ---------------------------------------------------------------------------
// Members and clusters

export type MemberRole = 'participant' | 'observer';

export interface ClusterOptions {
  /** Voting members. Default 3. */
  participants?: number;
  /** Observers, numbered after the participants. Default 0. */
  observers?: number;
  /** Default 100 ms: the core ticks every 10 ms. */
  tickTime?: number;
  /** In ticks. Default 20, like syncLimit (which must not exceed it). */
  initLimit?: number;
  /**
   * In ticks. Default 20 (2 s at the default tickTime): a member stalled longer than this (a
   * 2-core CI machine running JVMs and servers next to us stalls one for over 500 ms now and
   * then) is dropped and an election follows, which tests that kill or pause members do not
   * need to wait on and tests that expect a stable leader must not see.
   */
  syncLimit?: number;
  /** Default 100000 (no snapshots in a short test). */
  snapCount?: number;
  minSessionTimeout?: number;
  maxSessionTimeout?: number;
  /** pino level of the members. Default info. */
  logLevel?: string;
  /** Extra zoo.cfg lines. */
  extraConfig?: string[];
}

/** One member, as these tests know it: its process and its ports. */
export class Member {
  constructor(
    private readonly testing: TestingCluster,
    readonly sid: number,
  ) {}

  private get process(): MemberProcess {
    return this.testing.memberProcess(this.sid);
  }

  get role(): MemberRole {
    return this.testing.server(this.sid).role as MemberRole;
  }

  get clientPort(): number {
    return this.testing.server(this.sid).ports.client;
  }

  get quorumPort(): number {
    return this.testing.server(this.sid).ports.quorum;
  }

  get electionPort(): number {
    return this.testing.server(this.sid).ports.election;
  }

  /** The member's directory: zoo.cfg, data/, server.log. */
  get dir(): string {
    return path.dirname(this.configPath);
  }

  get dataDir(): string {
    return this.testing.server(this.sid).dataDir;
  }

  get configPath(): string {
    return this.testing.server(this.sid).configPath;
  }

  get connectString(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get log() {
    return this.process.log;
  }

  get running(): boolean {
    return this.process.running;
  }

  get paused(): boolean {
    return this.process.state === 'paused';
  }

  /** Why the last process exited, once it has. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.process.exit;
  }

  get starts(): number {
    return this.process.starts;
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error(`server ${this.sid} is not running`);
    return pid;
  }

  /** Starts the process; does not wait for it to serve (see Cluster.waitForServing). */
  spawn(): void {
    if (this.running) throw new Error(`server ${this.sid} is already running`);
    // The process is spawned before start() first awaits; a failed start shows in waits as an exit.
    void this.testing.start(this.sid, { serving: false }).catch(() => undefined);
  }

  /** SIGKILL, and waits until the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) throw new Error(`server ${this.sid} is not running; cannot send SIGKILL`);
    await this.testing.kill(this.sid);
  }

  /** SIGSTOP: the process stays, its sockets stay open, and nothing it does happens. */
  pause(): void {
    this.process.pause();
  }

  resume(): void {
    this.process.resume();
  }

  /** SIGTERM (after SIGCONT if paused), then SIGKILL if it does not exit in time. */
  async stop(): Promise<void> {
    await this.testing.stop(this.sid);
  }

  /** For cleanup: SIGKILL without waiting on anything but the exit. */
  async forceKill(): Promise<void> {
    await this.process.kill().catch(() => undefined);
  }

  srvrText(timeoutMs?: number): Promise<string> {
    return fourLetterWord(this.clientPort, 'srvr', timeoutMs);
  }

  /** srvr parsed; undefined when the member does not answer with a Mode line. */
  async status(timeoutMs?: number): Promise<ServerStatus | undefined> {
    if (!this.running || this.paused) return undefined;
    try {
      return parseSrvr(await this.srvrText(timeoutMs));
    } catch {
      return undefined;
    }
  }

  async mntr(): Promise<Map<string, string>> {
    return parseMntr(await fourLetterWord(this.clientPort, 'mntr'));
  }

  /** Lines of output so far: pass to `logged` to look only at what came after. */
  logMark(): number {
    return this.log.total;
  }

  logged(msg: string, since = 0): LogRecord[] {
    return this.log.find(msg, since);
  }
}

/** A running ensemble of real processes. Always `await cluster.destroy()` (afterAll). */
export class Cluster {
  private constructor(
    readonly testing: TestingCluster,
    readonly members: Member[],
    readonly options: Required<ClusterOptions>,
  ) {}

  get baseDir(): string {
    return this.testing.dir;
  }

  /** Writes the configs, spawns every member and waits until one of them leads and all serve. */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const full: Required<ClusterOptions> = {
      participants: options.participants ?? 3,
      observers: options.observers ?? 0,
      tickTime: options.tickTime ?? 100,
      initLimit: options.initLimit ?? 20,
      syncLimit: options.syncLimit ?? 20,
      snapCount: options.snapCount ?? 100_000,
      minSessionTimeout: options.minSessionTimeout ?? 200,
      maxSessionTimeout: options.maxSessionTimeout ?? 60_000,
      logLevel: options.logLevel ?? 'info',
      extraConfig: options.extraConfig ?? [],
    };
    const config: Record<string, string> = { extendedTypesEnabled: 'true' };
    for (const line of full.extraConfig) {
      const eq = line.indexOf('=');
      config[line.slice(0, eq)] = line.slice(eq + 1);
    }
    const keep = process.env.ZKTS_KEEP_ENSEMBLE_DIRS !== undefined;
    const testing = await TestingCluster.start({
      size: full.participants,
      observers: full.observers,
      tickTime: full.tickTime,
      initLimit: full.initLimit,
      syncLimit: full.syncLimit,
      snapCount: full.snapCount,
      minSessionTimeout: full.minSessionTimeout,
      maxSessionTimeout: full.maxSessionTimeout,
      logLevel: full.logLevel,
      config,
      dir: keep ? await mkdtemp(path.join(os.tmpdir(), 'zkts-ensemble-')) : undefined,
      startTimeoutMs: memberStartTimeoutMs,
    });
    if (keep) process.stderr.write(`ensemble files kept in ${testing.dir}\n`);
    return new Cluster(testing, testing.servers.map((s) => new Member(testing, s.id)), full);
  }

  member(sid: number): Member {
    const m = this.members.find((x) => x.sid === sid);
    if (m === undefined) throw new Error(`no server ${sid}`);
    return m;
  }

  /** Connect string of the given members' own ports (default: all), in sid order. */
  connectString(members: readonly Member[] = this.members): string {
    return members.map((m) => m.connectString).join(',');
  }

  running(): Member[] {
    return this.members.filter((m) => m.running && !m.paused);
  }

  /**
   * Waits until exactly one running, unpaused member reports `Mode: leader` and returns it.
   * `not` excludes members (say, a leader just killed or paused).
   */
  async waitForLeader(options: { not?: readonly Member[]; timeoutMs?: number } = {}): Promise<Member> {
    const sid = await this.testing.waitForLeader({ not: (options.not ?? []).map((m) => m.sid), timeoutMs: options.timeoutMs ?? leaderElectionTimeoutMs });
    return this.member(sid);
  }

  /** Waits until each given member answers srvr with a serving mode (leader/follower/observer). */
  async waitForServing(members: readonly Member[], timeoutMs = memberStartTimeoutMs): Promise<void> {
    await this.testing.waitForServing(
      members.map((m) => m.sid),
      { timeoutMs },
    );
  }

  /** Waits until every given member reports the same zxid in srvr, and returns it. */
  async waitForSameZxid(members: readonly Member[] = this.running(), timeoutMs = 10_000): Promise<bigint> {
    let last = '';
    return waitFor(
      `members ${members.map((m) => m.sid).join(',')} to agree on a zxid`,
      async () => {
        const statuses = await Promise.all(members.map((m) => m.status()));
        last = statuses.map((s, i) => `server ${members[i]!.sid}: ${s === undefined ? 'no answer' : `${s.mode} 0x${s.zxid.toString(16)}`}`).join(', ');
        if (statuses.some((s) => s === undefined)) return undefined;
        const first = statuses[0]!.zxid;
        return statuses.every((s) => s!.zxid === first) ? first : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message} (last: ${last})`);
    });
  }

  /** Restarts a stopped or killed member on its own dataDir and waits until it serves. */
  async restart(member: Member, timeoutMs = memberStartTimeoutMs): Promise<void> {
    if (member.running) await member.stop();
    await this.testing.start(member.sid, { timeoutMs });
  }

  /** The last lines of each member's output. */
  logTails(lines = logTailLinesDefault): string {
    return this.testing.logTails(lines);
  }

  /** Kills every member (SIGKILL: fast, and works on paused ones too) and removes the files. */
  async destroy(): Promise<void> {
    await this.testing.close();
  }
}
