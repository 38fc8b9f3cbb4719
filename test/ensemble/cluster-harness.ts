// Harness for the real-process ensemble suite.
//
// It runs N `node bin/zkts.js server <zoo.cfg>` processes on loopback, each with its own
// temporary dataDir (holding myid), ports from the OS, and a short tickTime so that
// elections and failover take well under a second. Members can be killed (SIGKILL), paused
// (SIGSTOP), resumed (SIGCONT) and restarted on the same dataDir and ports. Every member's
// output is kept (a ring of lines in memory, the whole of it in a file) so that a failing
// test can print what each server was doing. Nothing here sleeps for a fixed time: waits
// poll a condition until a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scaled, waitFor, withDeadline, type WaitOptions } from '../support/wait.js';

export { waitFor, withDeadline, type WaitOptions };

/** The checkout holding bin/zkts.js: this file runs from test/ensemble/ and, compiled for the bench, from dist/. */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'bin', 'zkts.js')) && existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the zkts checkout (bin/zkts.js) above the harness');
    dir = parent;
  }
}
export const repoRoot = findRepoRoot();
const zktsEntry = path.join(repoRoot, 'bin', 'zkts.js');
const zktsCompiled = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** Lines of each member's output kept in memory (the file has all of them). */
const logRingLines = 4_000;
/** Lines of each member's log printed after a failed test. */
export const logTailLinesDefault = 40;
const fourLetterWordTimeoutMs = 1_000;
const memberStartTimeoutMs = 20_000;
const memberStopTimeoutMs = 5_000;
export const leaderElectionTimeoutMs = 20_000;

// ---------------------------------------------------------------------------
// Waiting on conditions




// ---------------------------------------------------------------------------
// Ports and four-letter words

/**
 * Ports from the OS, all distinct: every listener stays open until all are chosen, so the
 * OS cannot hand out the same port twice within one call.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            if (address === null || typeof address === 'string') reject(new Error('no port from the OS'));
            else resolve(address.port);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** Sends a four-letter word and returns everything the server writes before closing. */
export function fourLetterWord(port: number, word: string, timeoutMs = fourLetterWordTimeoutMs): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${word} on port ${port}: no answer within ${timeoutMs} ms`));
    }, scaled(timeoutMs));
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
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
// Member output

/** A pino line as parsed JSON, or the raw line when it is not JSON. */
export type LogRecord = Record<string, unknown> & { msg?: string };

class MemberLog {
  private readonly lines: string[] = [];
  private partial = '';
  /** Lines seen since the member was created; survives the ring dropping old lines. */
  total = 0;
  private readonly records: { index: number; record: LogRecord }[] = [];

  constructor(private readonly file: WriteStream) {}

  push(chunk: Buffer): void {
    this.file.write(chunk);
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line);
  }

  mark(text: string): void {
    const line = `---- harness: ${text} ----`;
    this.file.write(`${line}\n`);
    this.add(line);
  }

  private add(line: string): void {
    this.total++;
    this.lines.push(line);
    if (this.lines.length > logRingLines) this.lines.splice(0, this.lines.length - logRingLines);
    if (line.startsWith('{')) {
      try {
        const record = JSON.parse(line) as LogRecord;
        this.records.push({ index: this.total, record });
        if (this.records.length > logRingLines) this.records.splice(0, this.records.length - logRingLines);
      } catch {
        // Not pino output (a stack trace, say): kept as a line only.
      }
    }
  }

  /** pino records with this msg seen after line `since` (a value of `total`). */
  find(msg: string, since = 0): LogRecord[] {
    return this.records.filter((r) => r.index > since && r.record.msg === msg).map((r) => r.record);
  }

  tail(count: number): string {
    const all = this.partial.length > 0 ? [...this.lines, this.partial] : this.lines;
    return all.slice(-count).join('\n');
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.file.end(() => resolve()));
  }
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

export class Member {
  child: ChildProcess | null = null;
  /** Why the current process exited, once it has. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private exited: Promise<void> = Promise.resolve();
  paused = false;
  starts = 0;

  constructor(
    readonly sid: number,
    readonly role: MemberRole,
    readonly clientPort: number,
    readonly quorumPort: number,
    readonly electionPort: number,
    readonly dir: string,
    readonly log: MemberLog,
    private readonly logLevel: string,
  ) {}

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get configPath(): string {
    return path.join(this.dir, 'zoo.cfg');
  }

  get connectString(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.child !== null && this.exit === null;
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error(`server ${this.sid} is not running`);
    return this.child.pid;
  }

  /** Spawns the process; does not wait for it to serve (see Cluster.waitForServing). */
  spawn(): void {
    if (this.running) throw new Error(`server ${this.sid} is already running`);
    this.starts++;
    this.log.mark(`start #${this.starts} of server ${this.sid}`);
    const child = spawn(process.execPath, [zktsEntry, 'server', this.configPath], {
      cwd: repoRoot,
      env: { ...process.env, ZKTS_LOG_LEVEL: this.logLevel },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = null;
    this.paused = false;
    child.stdout!.on('data', (chunk: Buffer) => this.log.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.log.push(chunk));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.log.mark(`server ${this.sid} exited (code ${code}, signal ${signal})`);
        resolve();
      });
    });
    liveChildren.add(child);
    child.once('exit', () => liveChildren.delete(child));
  }

  private signal(signal: NodeJS.Signals): void {
    if (!this.running) throw new Error(`server ${this.sid} is not running; cannot send ${signal}`);
    this.log.mark(`${signal} to server ${this.sid}`);
    this.child!.kill(signal);
  }

  /** SIGKILL, and waits until the process is gone. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await withDeadline(this.exited, memberStopTimeoutMs, `server ${this.sid} to die after SIGKILL`);
  }

  /** SIGSTOP: the process stays, its sockets stay open, and nothing it does happens. */
  pause(): void {
    this.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.signal('SIGCONT');
    this.paused = false;
  }

  /** SIGTERM (after SIGCONT if paused), then SIGKILL if it does not exit in time. */
  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.paused) this.resume();
    this.signal('SIGTERM');
    try {
      await withDeadline(this.exited, memberStopTimeoutMs, `server ${this.sid} to exit after SIGTERM`);
    } catch {
      await this.kill();
    }
  }

  /** For cleanup: SIGKILL without waiting on anything but the exit. */
  async forceKill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await withDeadline(this.exited, memberStopTimeoutMs, `server ${this.sid} to die`).catch(() => undefined);
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

/** Every process any cluster started in this worker, killed if the worker exits abruptly. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function zooCfg(options: Required<Omit<ClusterOptions, 'participants' | 'observers' | 'logLevel'>>, members: Member[], me: Member): string {
  const lines = [
    `tickTime=${options.tickTime}`,
    `initLimit=${options.initLimit}`,
    `syncLimit=${options.syncLimit}`,
    `dataDir=${me.dataDir}`,
    `clientPort=${me.clientPort}`,
    'clientPortAddress=127.0.0.1',
    `snapCount=${options.snapCount}`,
    `minSessionTimeout=${options.minSessionTimeout}`,
    `maxSessionTimeout=${options.maxSessionTimeout}`,
    '4lw.commands.whitelist=*',
    'extendedTypesEnabled=true',
    ...options.extraConfig,
  ];
  for (const m of members) {
    const role = m.role === 'observer' ? ':observer' : '';
    lines.push(`server.${m.sid}=127.0.0.1:${m.quorumPort}:${m.electionPort}${role};${m.clientPort}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A running ensemble of real processes. Always `await cluster.destroy()` (afterAll). */
export class Cluster {
  private destroyed = false;

  private constructor(
    readonly members: Member[],
    readonly baseDir: string,
    readonly options: Required<ClusterOptions>,
  ) {}

  /**
   * Writes the configs, spawns every member and waits until one of them leads and all serve.
   * A port taken by someone else between choosing and binding it is retried on new ports.
   */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const attempts = 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return await Cluster.startOnce(options);
      } catch (error) {
        if (attempt >= attempts || !(error instanceof Error) || !/EADDRINUSE|address already in use/i.test(error.message)) throw error;
      }
    }
  }

  private static async startOnce(options: ClusterOptions): Promise<Cluster> {
    if (!existsSync(zktsCompiled)) throw new Error(`zkts is not built (${zktsCompiled} is missing): run \`npm run build\` first`);
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
    const count = full.participants + full.observers;
    const baseDir = await mkdtemp(path.join(os.tmpdir(), 'zkts-ensemble-'));
    const ports = await freePorts(count * 3);
    const members: Member[] = [];
    for (let i = 0; i < count; i++) {
      const sid = i + 1;
      const dir = path.join(baseDir, `server${sid}`);
      await mkdir(path.join(dir, 'data'), { recursive: true });
      const log = new MemberLog(createWriteStream(path.join(dir, 'server.log')));
      const role: MemberRole = i < full.participants ? 'participant' : 'observer';
      members.push(new Member(sid, role, ports[i * 3]!, ports[i * 3 + 1]!, ports[i * 3 + 2]!, dir, log, full.logLevel));
    }
    for (const m of members) {
      await writeFile(path.join(m.dataDir, 'myid'), `${m.sid}\n`);
      await writeFile(m.configPath, zooCfg(full, members, m));
    }
    const cluster = new Cluster(members, baseDir, full);
    try {
      for (const m of members) m.spawn();
      await cluster.waitForLeader();
      await cluster.waitForServing(members);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const logs = cluster.logTails();
      await cluster.destroy();
      throw new Error(`ensemble did not start: ${message}\n${logs}`);
    }
    return cluster;
  }

  member(sid: number): Member {
    const m = this.members.find((x) => x.sid === sid);
    if (m === undefined) throw new Error(`no server ${sid}`);
    return m;
  }

  /** Connect string of the given members (default: all), in sid order. */
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
    const excluded = new Set(options.not ?? []);
    return waitFor('one leader among the running members', async () => {
        const candidates = this.running().filter((m) => !excluded.has(m));
        const modes = await Promise.all(candidates.map(async (m) => ({ m, status: await m.status() })));
        const leaders = modes.filter((x) => x.status?.mode === 'leader');
        return leaders.length === 1 ? leaders[0]!.m : undefined;
      }, { timeoutMs: options.timeoutMs ?? leaderElectionTimeoutMs, intervalMs: 50 }
    );
  }

  /** Waits until each given member answers srvr with a serving mode (leader/follower/observer). */
  async waitForServing(members: readonly Member[], timeoutMs = memberStartTimeoutMs): Promise<void> {
    await Promise.all(
      members.map((m) =>
        waitFor(`server ${m.sid} to serve`, async () => {
            if (m.exit !== null) throw new Error(`server ${m.sid} exited (code ${m.exit.code}, signal ${m.exit.signal})`);
            const status = await m.status();
            return status !== undefined && status.mode !== 'looking';
          }, { timeoutMs, intervalMs: 50 }
        ),
      ),
    );
  }

  /** Waits until every given member reports the same zxid in srvr, and returns it. */
  async waitForSameZxid(members: readonly Member[] = this.running(), timeoutMs = 10_000): Promise<bigint> {
    let last = '';
    return waitFor(`members ${members.map((m) => m.sid).join(',')} to agree on a zxid`, async () => {
        const statuses = await Promise.all(members.map((m) => m.status()));
        last = statuses.map((s, i) => `server ${members[i]!.sid}: ${s === undefined ? 'no answer' : `${s.mode} 0x${s.zxid.toString(16)}`}`).join(', ');
        if (statuses.some((s) => s === undefined)) return undefined;
        const first = statuses[0]!.zxid;
        return statuses.every((s) => s!.zxid === first) ? first : undefined;
      }, { timeoutMs, intervalMs: 50 }
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message} (last: ${last})`);
    });
  }

  /** Restarts a stopped or killed member on its own dataDir and waits until it serves. */
  async restart(member: Member, timeoutMs = memberStartTimeoutMs): Promise<void> {
    if (member.running) await member.stop();
    member.spawn();
    await this.waitForServing([member], timeoutMs);
  }

  /** The last lines of each member's output. */
  logTails(lines = logTailLinesDefault): string {
    return this.members.map((m) => `--- server ${m.sid} (client port ${m.clientPort}) log tail ---\n${m.log.tail(lines)}`).join('\n');
  }

  /** Kills every member (SIGKILL: fast, and works on paused ones too) and removes the files. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.members.map((m) => m.forceKill()));
    await Promise.all(this.members.map((m) => m.log.close()));
    if (process.env.ZKTS_KEEP_ENSEMBLE_DIRS === undefined) await rm(this.baseDir, { recursive: true, force: true });
    else process.stderr.write(`ensemble files kept in ${this.baseDir}\n`);
  }
}
