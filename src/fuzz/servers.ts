import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fourLetterWord, serverMode } from '../admin/four-letter-client.js';
import { serverProcessEnv } from '../testing/server-process.js';
import { scaled, waitFor, withDeadline } from '../testing/wait.js';

// The servers a fuzz run attacks: real `zkts server` processes on loopback, each in a fresh
// temporary directory with ports from the OS. A member that exits is never restarted behind
// the fuzzer's back: its exit is the finding.

/** The checkout holding bin/zkts.js: this file runs from src/fuzz/ (tests) and dist/src/fuzz/. */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'zkts.js')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the zkts checkout (bin/zkts.js) above ${from}`);
  }
}
const zktsBin = join(repoRoot, 'bin', 'zkts.js');

/** Lines of each member's output kept in memory for a crash report (stack traces included). */
const outputLinesKept = 400;
const memberStartMs = 20_000;
const memberStopMs = 5_000;

/** The superuser the health checker authenticates as, so that no ACL a fuzzer set can lock it out. */
export const superUser = { user: 'fuzz-super', password: 'fuzz-super-password' };
const superDigest = `${superUser.user}:${createHash('sha1').update(`${superUser.user}:${superUser.password}`).digest('base64')}`;

/** Session timeouts: short, so the sessions of thousands of fuzz connections expire quickly. */
export const sessionTimeoutMsMax = 10_000;

export type ServerSetKind = 'standalone' | 'ensemble';

/**
 * The sid that ensemble configs declare as an observer but that no process runs: the fuzzer
 * dials members as this peer, a learner every member accepts, without displacing a real link.
 */
export const phantomObserverSid = 5;
/**
 * A second observer no process runs, with the smallest id: every member dials it (the larger id
 * dials), so the fuzzer, listening on its election port, answers members' hellos with welcomes.
 */
export const dialledObserverSid = 1;
/** The members' ids in an ensemble: between the dialled observer's and the phantom observer's. */
const ensembleSids = [2, 3, 4] as const;
/**
 * quorum.auth.secretFile of fuzz ensembles: handshakes carry HMAC proofs, so that forged and
 * replayed proofs are refused for a reason. The fuzzer knows it, as a member would.
 */
export const fuzzPeerSecret = new Uint8Array(Buffer.from('zkts fuzz ensemble shared secret'));

export class FuzzMember {
  child: ChildProcess | null = null;
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly lines: string[] = [];
  private partial = '';

  constructor(
    readonly sid: number,
    readonly clientPort: number,
    readonly quorumPort: number,
    readonly electionPort: number,
    readonly dir: string,
  ) {}

  get configPath(): string {
    return join(this.dir, 'zoo.cfg');
  }

  get running(): boolean {
    return this.child !== null && this.exit === null;
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error(`server ${this.sid} is not running`);
    return this.child.pid;
  }

  spawn(logLevel: string): void {
    const child = spawn(process.execPath, [zktsBin, 'server', this.configPath, '--log-level', logLevel], {
      cwd: repoRoot,
      env: { ...process.env, ...serverProcessEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = null;
    child.stdout!.on('data', (chunk: Buffer) => this.keep(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.keep(chunk));
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        done();
      });
    });
    liveChildren.add(child);
    child.once('exit', () => liveChildren.delete(child));
  }

  private keep(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.lines.push(line);
    if (this.lines.length > outputLinesKept) this.lines.splice(0, this.lines.length - outputLinesKept);
  }

  /**
   * The last lines the process wrote that matter for a crash: errors, fatal records and anything
   * that is not a pino record (a stack trace, a message on stderr); warnings about bad input are left out.
   */
  outputTail(count = 60): string {
    const all = this.partial.length > 0 ? [...this.lines, this.partial] : this.lines;
    return all.filter((line) => !/^\{"level":[1-4]\d,/.test(line)).slice(-count).join('\n');
  }

  /** Resident set size from /proc, in MiB. */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kib === undefined) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(kib) / 1024;
  }

  async mode(): Promise<string | null> {
    return this.running ? serverMode('127.0.0.1', this.clientPort, scaled(1000)) : null;
  }

  ruok(): Promise<string> {
    return fourLetterWord('127.0.0.1', this.clientPort, 'ruok', scaled(2000));
  }

  /** SIGTERM, then SIGKILL if it does not exit in time; true when it had to be killed. */
  async stop(): Promise<boolean> {
    if (!this.running) return false;
    this.child!.kill('SIGTERM');
    try {
      await withDeadline(this.exited, memberStopMs, `server ${this.sid} to exit after SIGTERM`);
      return false;
    } catch {
      this.child!.kill('SIGKILL');
      await withDeadline(this.exited, memberStopMs, `server ${this.sid} to die`);
      return true;
    }
  }
}

/** Every process a fuzz run started in this process, killed if it exits abruptly. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', killAllServers);

/** SIGKILLs every server process this process started (on exit, or when the fuzz command is interrupted). */
export function killAllServers(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
}

export interface FuzzServerOptions {
  kind: ServerSetKind;
  /** pino level of the members; warn keeps the fuzzer's bad input from filling the disk. */
  logLevel?: string;
  /** Txns between snapshots: low, so that snapshots of fuzzed trees are written and loaded. */
  snapCount?: number;
}

/** A standalone server or a three-member ensemble (plus the phantom observers' slots). */
export class FuzzServers {
  private constructor(
    readonly kind: ServerSetKind,
    readonly members: FuzzMember[],
    readonly baseDir: string,
    private readonly logLevel: string,
    /** The election port of the observer members dial (dialledObserverSid), where the fuzzer listens. */
    readonly dialledObserverPort: number,
  ) {}

  /**
   * Starts the servers on ports from the OS; a port another process took between our choosing
   * it and the server binding it is retried on new ports.
   */
  static async start(options: FuzzServerOptions): Promise<FuzzServers> {
    const attempts = 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return await FuzzServers.startOnce(options);
      } catch (error) {
        if (attempt >= attempts || !/EADDRINUSE/.test((error as Error).message)) throw error;
      }
    }
  }

  private static async startOnce(options: FuzzServerOptions): Promise<FuzzServers> {
    if (!existsSync(join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) throw new Error('zkts is not built: run `npm run build` first');
    const baseDir = await mkdtemp(join(tmpdir(), `zkts-fuzz-${options.kind}-`));
    const count = options.kind === 'standalone' ? 1 : 3;
    // The phantom observers' ports are reserved too (the fuzzer listens on the dialled one's).
    const ports = await freePorts(count * 3 + (options.kind === 'ensemble' ? 6 : 0));
    const members: FuzzMember[] = [];
    for (let i = 0; i < count; i++) {
      const sid = options.kind === 'standalone' ? 1 : ensembleSids[i]!;
      members.push(new FuzzMember(sid, ports[i * 3]!, ports[i * 3 + 1]!, ports[i * 3 + 2]!, join(baseDir, `server${sid}`)));
    }
    const servers = new FuzzServers(options.kind, members, baseDir, options.logLevel ?? 'warn', ports[count * 3 + 5] ?? 0);
    const phantoms: PhantomPorts = { observer: ports.slice(count * 3, count * 3 + 3), dialled: ports.slice(count * 3 + 3) };
    for (const m of members) {
      await mkdir(join(m.dir, 'data'), { recursive: true });
      if (options.kind === 'ensemble') {
        await writeFile(join(m.dir, 'data', 'myid'), `${m.sid}\n`);
        await writeFile(join(m.dir, 'peer-secret'), fuzzPeerSecret);
      }
      await writeFile(m.configPath, zooCfg(options, members, m, phantoms));
    }
    try {
      for (const m of members) m.spawn(servers.logLevel);
      await servers.waitForServing();
    } catch (error) {
      const tails = servers.outputTails();
      await servers.destroy();
      throw new Error(`fuzz servers did not start: ${(error as Error).message}\n${tails}`);
    }
    return servers;
  }

  get connectString(): string {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
  }

  /** Members whose process has exited, with how. */
  exited(): FuzzMember[] {
    return this.members.filter((m) => m.exit !== null);
  }

  member(sid: number): FuzzMember {
    const m = this.members.find((x) => x.sid === sid);
    if (m === undefined) throw new Error(`no server ${sid}`);
    return m;
  }

  /** Waits until every member serves (leader, follower or standalone) and one of them leads; fails at once if one exits. */
  async waitForServing(timeoutMs = memberStartMs): Promise<void> {
    const outcome = await waitFor(`${this.kind} servers to serve`, async () => {
      const dead = this.exited();
      if (dead.length > 0) return { dead };
      const modes = await Promise.all(this.members.map((m) => m.mode()));
      const serving = this.kind === 'standalone'
        ? modes[0] === 'standalone'
        : modes.every((mode) => mode === 'leader' || mode === 'follower') && modes.filter((mode) => mode === 'leader').length === 1;
      return serving ? { dead } : undefined;
    }, { timeoutMs, intervalMs: 50 });
    const first = outcome.dead[0];
    if (first !== undefined) throw new Error(`server ${first.sid} exited (code ${first.exit!.code}, signal ${first.exit!.signal}): ${first.outputTail(1)}`);
  }

  /** The sid of the member that leads now (the standalone server's is 1); null while none does. */
  async leaderSid(): Promise<number | null> {
    if (this.kind === 'standalone') return 1;
    const modes = await Promise.all(this.members.map((m) => m.mode()));
    const leaders = this.members.filter((_, i) => modes[i] === 'leader');
    return leaders.length === 1 ? leaders[0]!.sid : null;
  }

  /**
   * Stops every member and starts it again on its own dataDir: whatever the fuzzer got logged is
   * recovered. A member that did not exit on SIGTERM is a failure too (reported once all serve again).
   */
  async restart(): Promise<void> {
    const killed = await Promise.all(this.members.map((m) => m.stop()));
    for (const m of this.members) m.spawn(this.logLevel);
    await this.waitForServing();
    const stuck = this.members.filter((_, i) => killed[i]).map((m) => m.sid);
    if (stuck.length > 0) throw new Error(`server ${stuck.join(', ')} did not exit within ${scaled(memberStopMs)} ms of SIGTERM and was killed`);
  }

  outputTails(lines = 40): string {
    return this.members.map((m) => `--- server ${m.sid} (client port ${m.clientPort}) output ---\n${m.outputTail(lines)}`).join('\n');
  }

  /** Stops every member and removes the files (kept when `keep`, for a crash's post-mortem). */
  async destroy(keep = false): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop().catch(() => undefined)));
    if (!keep) await rm(this.baseDir, { recursive: true, force: true });
  }
}

/** Client, quorum and election ports of each phantom observer. */
interface PhantomPorts {
  observer: number[];
  dialled: number[];
}

function zooCfg(options: FuzzServerOptions, members: FuzzMember[], me: FuzzMember, phantoms: PhantomPorts): string {
  const lines = [
    'tickTime=100',
    'initLimit=20',
    'syncLimit=20',
    `dataDir=${join(me.dir, 'data')}`,
    `clientPort=${me.clientPort}`,
    'clientPortAddress=127.0.0.1',
    `snapCount=${options.snapCount ?? 2_000}`,
    'minSessionTimeout=200',
    `maxSessionTimeout=${sessionTimeoutMsMax}`,
    '4lw.commands.whitelist=*',
    'extendedTypesEnabled=true',
    `superDigest=${superDigest}`,
    // Thousands of fuzz connections come from one address.
    'maxClientCnxns=0',
  ];
  if (options.kind === 'ensemble') {
    for (const m of members) lines.push(`server.${m.sid}=127.0.0.1:${m.quorumPort}:${m.electionPort};${m.clientPort}`);
    lines.push(`server.${phantomObserverSid}=127.0.0.1:${phantoms.observer[1]}:${phantoms.observer[2]}:observer;${phantoms.observer[0]}`);
    lines.push(`server.${dialledObserverSid}=127.0.0.1:${phantoms.dialled[1]}:${phantoms.dialled[2]}:observer;${phantoms.dialled[0]}`);
    lines.push(`quorum.auth.secretFile=${join(me.dir, 'peer-secret')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Distinct ports from the OS: every listener stays open until all are chosen. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(await new Promise<number>((done, fail) => {
        server.once('error', fail);
        server.listen(0, '127.0.0.1', () => done((server.address() as AddressInfo).port));
      }));
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
  }
}
