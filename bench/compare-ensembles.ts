// The two ensembles `npm run bench:compare` measures: three Apache ZooKeeper 3.8 members
// (Debian's package) and three `zkts server` processes, on loopback ports from the OS, each
// member with its own temporary directory (zoo.cfg, myid, data, log) and the same zoo.cfg
// settings on both sides. zkts members are started by the one launcher (src/testing), whose
// lifeline ends them when this process dies; every other process started here is written to a
// pid file that a watchdog reads if this process dies without cleaning up (see startWatchdog).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fourLetterWord } from '../src/admin/four-letter-client.js';
import { MemberProcess } from '../src/testing/member-process.js';
import { waitFor, withDeadline } from '../src/testing/wait.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const zktsBin = path.join(repoRoot, 'bin', 'zkts.js');

export type Side = 'zkts' | 'ZooKeeper';

/** zoo.cfg settings both ensembles get. */
export interface EnsembleSettings {
  tickTime: number;
  initLimit: number;
  syncLimit: number;
  snapCount: number;
  minSessionTimeout: number;
  maxSessionTimeout: number;
}

const zookeeperJar = '/usr/share/java/zookeeper.jar';
/** zookeeper.jar's manifest names its dependencies; slf4j-simple writes its log to stderr. */
const zookeeperClassPath = [zookeeperJar, '/usr/share/java/slf4j-simple.jar'].join(':');
/**
 * The heap upstream's zkServer.sh gives a server (ZK_SERVER_HEAP=1000); the rest is the JVM's
 * own choice on this machine (printed by the compare script).
 */
export const zookeeperJvmOptions: readonly string[] = ['-Xmx1000m', '-Dzookeeper.admin.enableServer=false'];

const quorumTimeoutMs = 60_000;
const stopGraceMs = 5_000;
const fourLetterWordTimeoutMs = 1_000;

/** Installs Debian's zookeeper package when its jar is missing; returns what it did. */
export function ensureZooKeeperInstalled(): string {
  if (existsSync(zookeeperJar)) return `${zookeeperJar} present`;
  const run = (args: string[]): void => void execFileSync('apt-get', args, { stdio: 'inherit', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    run(['install', '-y', '--no-install-recommends', 'zookeeper']);
  } catch {
    run(['update']);
    run(['install', '-y', '--no-install-recommends', 'zookeeper']);
  }
  if (!existsSync(zookeeperJar)) throw new Error(`apt-get installed zookeeper but ${zookeeperJar} is still missing`);
  return 'installed with apt-get install zookeeper';
}

/** Every process this script starts, written to `<baseDir>/pids` for the watchdog. */
export class ProcessRegistry {
  private readonly live = new Set<ChildProcess>();
  readonly pidFile: string;

  constructor(readonly baseDir: string) {
    this.pidFile = path.join(baseDir, 'pids');
    writeFileSync(this.pidFile, '');
  }

  add(child: ChildProcess): void {
    if (child.pid === undefined) return;
    appendFileSync(this.pidFile, `${child.pid}\n`);
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
  }

  /** SIGKILL to every process still running: for exits that cannot wait. */
  killAll(): void {
    for (const child of this.live) child.kill('SIGKILL');
  }
}

/**
 * A detached process that kills everything in the pid file and removes `baseDir` if this
 * process dies (even by SIGKILL) before doing so itself; it ends once `baseDir` is gone. A pid
 * is only killed while its command line still names `baseDir`, so a reused pid is left alone.
 */
export function startWatchdog(registry: ProcessRegistry): void {
  const script = `
    const fs = require('node:fs');
    const [parent, base, pidFile] = process.argv.slice(1);
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    const timer = setInterval(() => {
      if (!fs.existsSync(base)) return process.exit(0);
      if (alive(Number(parent))) return;
      for (const pid of fs.readFileSync(pidFile, 'utf8').split('\\n').filter(Boolean).map(Number)) {
        let cmdline = '';
        try { cmdline = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8'); } catch {}
        if (cmdline.includes(base)) try { process.kill(pid, 'SIGKILL'); } catch {}
      }
      fs.rmSync(base, { recursive: true, force: true });
      clearInterval(timer);
    }, 500);`;
  const child = spawn(process.execPath, ['-e', script, String(process.pid), registry.baseDir, registry.pidFile], { detached: true, stdio: 'ignore' });
  child.unref();
}

/** Distinct loopback ports from the OS: all listeners stay open until every port is chosen. */
async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export class Member {
  /** A ZooKeeper member's process. */
  child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** A zkts member's process, under the launcher. */
  private launched: MemberProcess | null = null;

  constructor(
    readonly side: Side,
    readonly sid: number,
    readonly clientPort: number,
    readonly quorumPort: number,
    readonly electionPort: number,
    readonly dir: string,
  ) {}

  get configPath(): string {
    return path.join(this.dir, 'zoo.cfg');
  }

  get logPath(): string {
    return path.join(this.dir, 'server.log');
  }

  get host(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    if (this.launched !== null) return this.launched.running;
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number {
    const pid = this.launched?.pid ?? this.child?.pid;
    if (!this.running || pid === undefined) throw new Error(`${this.side} server ${this.sid} is not running`);
    return pid;
  }

  /** Starts the process; waitForQuorum tells when it serves (or that it exited). */
  start(registry: ProcessRegistry): void {
    if (this.side === 'zkts') {
      // `zkts server <zoo.cfg>` as the launcher runs it: the same command and environment a user's gets.
      this.launched ??= new MemberProcess({ name: `zkts server ${this.sid}`, configPath: this.configPath, logFile: this.logPath, seed: this.sid });
      // A start that fails leaves the process stopped, which waitForQuorum reports with the log.
      this.launched.start().catch(() => undefined);
      return;
    }
    const log = openSync(this.logPath, 'a');
    try {
      this.child = spawnZooKeeperMember(this.configPath, log);
    } finally {
      closeSync(log);
    }
    registry.add(this.child);
    const child = this.child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    if (this.launched !== null) return this.launched.kill();
    this.child!.kill('SIGKILL');
    await withDeadline(this.exited, stopGraceMs, `${this.side} server ${this.sid} to die after SIGKILL`);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.launched !== null) {
      await this.launched.stop(stopGraceMs);
      return;
    }
    this.child!.kill('SIGTERM');
    await withDeadline(this.exited, stopGraceMs, `${this.side} server ${this.sid} to stop`).catch(() => this.kill());
  }

  /** srvr's Mode and Node count; null when the member does not answer. */
  async status(): Promise<{ mode: string; nodeCount: number } | null> {
    if (!this.running) return null;
    const srvr = await fourLetterWord('127.0.0.1', this.clientPort, 'srvr', fourLetterWordTimeoutMs).catch(() => '');
    const mode = /^Mode: (\S+)/m.exec(srvr)?.[1];
    const nodeCount = /^Node count: (\d+)/m.exec(srvr)?.[1];
    return mode === undefined || nodeCount === undefined ? null : { mode, nodeCount: Number(nodeCount) };
  }

  /** The end of the member's log, without the lines ZooKeeper writes for each four-letter word. */
  logTail(lines: number): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').filter((l) => !/Processing \w{4} command/.test(l)).slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

function spawnZooKeeperMember(configPath: string, logFd: number): ChildProcess {
  return spawn('java', [...zookeeperJvmOptions, '-cp', zookeeperClassPath, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', configPath], {
    stdio: ['ignore', logFd, logFd],
  });
}

function zooCfg(settings: EnsembleSettings, members: Member[], me: Member): string {
  const lines = [
    `tickTime=${settings.tickTime}`,
    `initLimit=${settings.initLimit}`,
    `syncLimit=${settings.syncLimit}`,
    `snapCount=${settings.snapCount}`,
    `minSessionTimeout=${settings.minSessionTimeout}`,
    `maxSessionTimeout=${settings.maxSessionTimeout}`,
    `dataDir=${path.join(me.dir, 'data')}`,
    `clientPort=${me.clientPort}`,
    'clientPortAddress=127.0.0.1',
    'admin.enableServer=false',
    '4lw.commands.whitelist=*',
    ...members.map((m) => `server.${m.sid}=127.0.0.1:${m.quorumPort}:${m.electionPort};127.0.0.1:${m.clientPort}`),
  ];
  return `${lines.join('\n')}\n`;
}

export class Ensemble {
  private constructor(
    readonly side: Side,
    readonly members: Member[],
    private readonly registry: ProcessRegistry,
  ) {}

  /** Writes the configs, starts three members and waits until they have a leader and two followers. */
  static async start(side: Side, settings: EnsembleSettings, registry: ProcessRegistry): Promise<Ensemble> {
    const ports = await freePorts(9);
    const members = [1, 2, 3].map((sid, i) => {
      const dir = path.join(registry.baseDir, `${side.toLowerCase()}-${sid}`);
      mkdirSync(path.join(dir, 'data'), { recursive: true });
      writeFileSync(path.join(dir, 'data', 'myid'), `${sid}\n`);
      return new Member(side, sid, ports[3 * i]!, ports[3 * i + 1]!, ports[3 * i + 2]!, dir);
    });
    for (const m of members) writeFileSync(m.configPath, zooCfg(settings, members, m));
    const ensemble = new Ensemble(side, members, registry);
    for (const m of members) m.start(registry);
    await ensemble.waitForQuorum();
    return ensemble;
  }

  /**
   * Waits until one member leads, the others follow, and all hold the same number of znodes
   * (zxids do not tell: a ZooKeeper leader shows its new epoch before the followers have any
   * txn of it); returns the leader.
   */
  async waitForQuorum(timeoutMs = quorumTimeoutMs): Promise<Member> {
    try {
      return await waitFor(
        `the ${this.side} ensemble to have a leader and two followers in step`,
        async () => {
          const dead = this.members.find((m) => !m.running);
          if (dead !== undefined) throw new Error(`${this.side} server ${dead.sid} exited:\n${dead.logTail(30)}`);
          const status = await Promise.all(this.members.map((m) => m.status()));
          const modes = status.map((s) => s?.mode);
          if (modes.filter((m) => m === 'leader').length !== 1 || modes.filter((m) => m === 'follower').length !== 2) return undefined;
          if (status.some((s) => s!.nodeCount !== status[0]!.nodeCount)) return undefined;
          return this.members[modes.indexOf('leader')];
        },
        { timeoutMs, intervalMs: 100 },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.logTails(20)}`);
    }
  }

  async leader(): Promise<Member> {
    return this.waitForQuorum();
  }

  /** Client hosts, followers first and the leader last, so both sides put the same sessions on the leader. */
  async hostsLeaderLast(): Promise<string[]> {
    const leader = await this.leader();
    return [...this.members.filter((m) => m !== leader), leader].map((m) => m.host);
  }

  pids(): number[] {
    return this.members.map((m) => m.pid);
  }

  restart(member: Member): void {
    member.start(this.registry);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }

  logTails(lines: number): string {
    return this.members.map((m) => `--- ${this.side} server ${m.sid} (${m.logPath}) ---\n${m.logTail(lines)}`).join('\n');
  }
}
