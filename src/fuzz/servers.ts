import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fourLetterWord, serverMode } from '../admin/four-letter-client.js';
import { startOnReservedPorts, withPortRetries } from '../testing/member.js';
import { MemberProcess, MemberStartError, memberStartTimeoutMs, memberStopTimeoutMs, type MemberExit } from '../testing/member-process.js';
import { loopback, portsShareable, reservePort, type PortReservation } from '../testing/ports.js';
import { scaled, waitFor } from '../testing/wait.js';

// The servers a fuzz run attacks: real `zkts server` processes on loopback, started by the one
// launcher (src/testing/member-process.ts), each in a fresh temporary directory with ports
// reserved from the OS. A member that exits is never restarted behind the fuzzer's back: its
// exit is the finding.

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

/** Lines of a member's output that matter for a crash: not pino records below error (bad input is warned about). */
const crashRelevant = (line: string): boolean => !/^\{"level":[1-4]\d,/.test(line);

/** Reserved ports of a member or of a phantom observer. */
interface SlotPorts {
  readonly client: PortReservation;
  readonly quorum: PortReservation;
  readonly election: PortReservation;
}

/** One fuzzed server: its directory and reserved ports, its process under the one launcher. */
export class FuzzMember {
  readonly process: MemberProcess;

  constructor(
    readonly sid: number,
    readonly ports: SlotPorts,
    readonly dir: string,
    logLevel: string,
  ) {
    // The output stays in memory: a long run's warnings about bad input would fill the disk.
    this.process = new MemberProcess({ name: `server ${sid}`, configPath: this.configPath, logFile: null, logLevel, seed: sid });
  }

  get clientPort(): number {
    return this.ports.client.port;
  }

  get quorumPort(): number {
    return this.ports.quorum.port;
  }

  get electionPort(): number {
    return this.ports.election.port;
  }

  get configPath(): string {
    return join(this.dir, 'zoo.cfg');
  }

  /** How the process last ended; null while it runs. */
  get exit(): MemberExit | null {
    return this.process.exit;
  }

  get running(): boolean {
    return this.process.running;
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error(`server ${this.sid} is not running`);
    return pid;
  }

  /** Resolves once the member listens; a member that exits first fails it with its last lines. */
  start(): Promise<void> {
    return startOnReservedPorts(this.process, [this.ports.client, this.ports.election]);
  }

  /** SIGTERM, then SIGKILL if it does not exit in time; true when it had to be killed. */
  stop(): Promise<boolean> {
    return this.process.stop();
  }

  /**
   * The last lines the process wrote that matter for a crash: errors, fatal records and anything
   * that is not a pino record (a stack trace, a message on stderr).
   */
  outputTail(count = 60): string {
    return this.process.log.tail(count, crashRelevant);
  }

  /** Resident set size from /proc, in MiB. */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kib === undefined) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(kib) / 1024;
  }

  async mode(): Promise<string | null> {
    return this.running ? serverMode(loopback, this.clientPort, scaled(1000)) : null;
  }

  ruok(): Promise<string> {
    return fourLetterWord(loopback, this.clientPort, 'ruok', scaled(2000));
  }

  close(): void {
    for (const reservation of Object.values(this.ports)) reservation.close();
  }
}

export interface FuzzServerOptions {
  kind: ServerSetKind;
  /** pino level of the members; warn keeps the fuzzer's bad input from filling the disk. */
  logLevel?: string;
  /** Txns between snapshots: low, so that snapshots of fuzzed trees are written and loaded. */
  snapCount?: number;
}

async function reserveSlot(): Promise<SlotPorts> {
  const [client, quorum, election] = await Promise.all([reservePort(), reservePort(), reservePort()]);
  return { client, quorum, election };
}

/** A standalone server or a three-member ensemble (plus the phantom observers' slots). */
export class FuzzServers {
  private constructor(
    readonly kind: ServerSetKind,
    readonly members: FuzzMember[],
    readonly baseDir: string,
    /** Ports held for the phantom observers, whose server lines the members read. */
    private readonly phantoms: { observer: SlotPorts; dialled: SlotPorts } | null,
  ) {}

  /** The election port of the observer members dial (dialledObserverSid), where the fuzzer listens. */
  get dialledObserverPort(): number {
    return this.phantoms?.dialled.election.port ?? 0;
  }

  /** Starts the servers on reserved ports; a launch that finds a port taken starts over on new ones. */
  static start(options: FuzzServerOptions): Promise<FuzzServers> {
    return withPortRetries(() => FuzzServers.startOnce(options));
  }

  private static async startOnce(options: FuzzServerOptions): Promise<FuzzServers> {
    const baseDir = await mkdtemp(join(tmpdir(), `zkts-fuzz-${options.kind}-`));
    const sids = options.kind === 'standalone' ? [1] : ensembleSids;
    const members = await Promise.all(sids.map(async (sid) => new FuzzMember(sid, await reserveSlot(), join(baseDir, `server${sid}`), options.logLevel ?? 'warn')));
    const phantoms = options.kind === 'ensemble' ? { observer: await reserveSlot(), dialled: await reserveSlot() } : null;
    // The fuzzer listens on the dialled observer's election port; where a reserved port cannot be shared, it lets go.
    if (phantoms !== null && !(await portsShareable())) phantoms.dialled.election.release();
    const servers = new FuzzServers(options.kind, members, baseDir, phantoms);
    try {
      for (const m of members) await writeMemberFiles(options, servers, m);
      await Promise.all(members.map((m) => m.start()));
      await servers.waitForServing();
    } catch (error) {
      const tails = servers.outputTails();
      await servers.destroy();
      const code = error instanceof MemberStartError ? error.code : null;
      throw new MemberStartError(`fuzz servers did not start: ${(error as Error).message}\n${tails}`, code);
    }
    return servers;
  }

  get connectString(): string {
    return this.members.map((m) => `${loopback}:${m.clientPort}`).join(',');
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
  async waitForServing(timeoutMs = memberStartTimeoutMs): Promise<void> {
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
    await Promise.all(this.members.map((m) => m.start()));
    await this.waitForServing();
    const stuck = this.members.filter((_, i) => killed[i]).map((m) => m.sid);
    if (stuck.length > 0) throw new Error(`server ${stuck.join(', ')} did not exit within ${scaled(memberStopTimeoutMs)} ms of SIGTERM and was killed`);
  }

  outputTails(lines = 40): string {
    return this.members.map((m) => `--- server ${m.sid} (client port ${m.clientPort}) output ---\n${m.outputTail(lines)}`).join('\n');
  }

  /** Stops every member, lets its ports go and removes the files (kept when `keep`, for a crash's post-mortem). */
  async destroy(keep = false): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop().catch(() => undefined)));
    for (const m of this.members) m.close();
    for (const slot of Object.values(this.phantoms ?? {})) for (const reservation of Object.values(slot)) reservation.close();
    if (!keep) await rm(this.baseDir, { recursive: true, force: true });
  }

  /** The server lines of an ensemble's members and phantom observers. */
  serverLines(): string[] {
    if (this.phantoms === null) return [];
    const line = (sid: number, ports: SlotPorts, role: string) => `server.${sid}=${loopback}:${ports.quorum.port}:${ports.election.port}${role};${ports.client.port}`;
    return [
      ...this.members.map((m) => line(m.sid, m.ports, '')),
      line(phantomObserverSid, this.phantoms.observer, ':observer'),
      line(dialledObserverSid, this.phantoms.dialled, ':observer'),
    ];
  }
}

/** A member's directory: zoo.cfg, data/ (with myid) and, in an ensemble, the peer secret. */
async function writeMemberFiles(options: FuzzServerOptions, servers: FuzzServers, me: FuzzMember): Promise<void> {
  await mkdir(join(me.dir, 'data'), { recursive: true });
  const lines = [
    'tickTime=100',
    'initLimit=20',
    'syncLimit=20',
    `dataDir=${join(me.dir, 'data')}`,
    `clientPort=${me.clientPort}`,
    `clientPortAddress=${loopback}`,
    `snapCount=${options.snapCount ?? 2_000}`,
    'minSessionTimeout=200',
    `maxSessionTimeout=${sessionTimeoutMsMax}`,
    '4lw.commands.whitelist=*',
    'extendedTypesEnabled=true',
    `superDigest=${superDigest}`,
    // Thousands of fuzz connections come from one address.
    'maxClientCnxns=0',
    ...servers.serverLines(),
  ];
  if (options.kind === 'ensemble') {
    await writeFile(join(me.dir, 'data', 'myid'), `${me.sid}\n`);
    await writeFile(join(me.dir, 'peer-secret'), fuzzPeerSecret);
    lines.push(`quorum.auth.secretFile=${join(me.dir, 'peer-secret')}`);
  }
  await writeFile(me.configPath, `${lines.join('\n')}\n`);
}
