import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LinkEnd, PeerFaultRule } from '../faults/peer-faults.js';
import type { TcpProxy } from '../faults/tcp-proxy.js';
import { ClusterFaults } from './cluster-faults.js';
import { assertConverged, waitForLeader, waitForQuorum, waitForServing } from './cluster-waits.js';
import { expireSession, type SessionIdLike } from './kill-session.js';
import { memberStartTimeoutMs, type MemberExit, type MemberProcess } from './member-process.js';
import { Member, MemberStartError, memberById, withPortRetries, type MemberSettings, type MemberStatus, memberTls, type ServerInfo } from './member.js';

export interface TestingClusterOptions {
  /** Voting members. Default 3. */
  size?: number;
  /** Observers, numbered after the voters. Default 0. */
  observers?: number;
  /** ms. Default 200. */
  tickTime?: number;
  /** Ticks. Defaults 10 and 10: a member stalled for 2 s (at tickTime 200) is dropped. */
  initLimit?: number;
  syncLimit?: number;
  /** ms. Defaults 2 ticks and 60 s, so clients get the timeouts they ask for. */
  minSessionTimeout?: number;
  maxSessionTimeout?: number;
  /** Txns between snapshots. Default 100000. */
  snapCount?: number;
  /**
   * A TLS client port on every member besides the plain one (secureClientPort and its ssl.*
   * keys), behind the same fault proxy: see `secureConnectString`. Paths to PEM files:
   * `keyStore` holds the key and certificate, `trustStore` the CA that client certificates are
   * checked against. clientAuth defaults to need (as ZooKeeper's) with a trustStore, none
   * without one. Relative paths are from the cwd.
   */
  tls?: { keyStore: string; trustStore?: string; clientAuth?: 'none' | 'want' | 'need' };
  /** More zoo.cfg keys, written as given. */
  config?: Readonly<Record<string, string | number | boolean>>;
  /** The members' log level. Default info. */
  logLevel?: string;
  /** Where each member's zoo.cfg, data and server.log go: kept on close. Default: a temporary directory removed on close. */
  dir?: string;
  /** Ports for the members' fault proxies, one per member (0: from the OS). Default: all from the OS. */
  proxyPorts?: readonly number[];
  /** Seeds every random choice of the fault layer (drops, jitter). Default: random, see `seed`. */
  seed?: number;
  /** More environment for the member processes. */
  env?: Readonly<Record<string, string>>;
  /** How long start() may take (scaled by ZKTS_TEST_TIME_FACTOR). Default 20 s. */
  startTimeoutMs?: number;
}

/** Which peer links a peer fault applies to; default every link. */
export interface LinkSelector {
  from?: LinkEnd;
  to?: LinkEnd;
}

/** Where start() spent its time, ms (see `npm run bench:testing`). */
export interface StartTiming {
  /** start() called → it resolved. */
  totalMs: number;
  /** Ports, proxies, directories and configs. */
  prepareMs: number;
  /** Spawning → the last member listening. */
  spawnMs: number;
  /** The last member listening → a leader and every member serving. */
  electionMs: number;
  /** Per member: spawn → listening; inside its process (ms since it started) when Node was ready, the server's modules were loaded, and it listened; and the CPU time it had used by then. */
  members: { id: number; spawnToListeningMs: number; bootstrapMs: number; loadedMs: number; listeningMs: number; cpuMs: number }[];
}

export interface WaitOptions {
  /** Scaled by ZKTS_TEST_TIME_FACTOR. Default 20 s. */
  timeoutMs?: number;
}

/**
 * An ensemble of real `zkts server` processes on loopback for tests, each behind a fault proxy:
 * start, kill, stop, pause and partition members, slow or cut clients' connections, expire
 * sessions, and check that the members converged. It is also the launcher `zkts cluster`
 * builds on: it emits 'exit' ({ id, code, signal, expected }) when a member process ends.
 */
export class TestingCluster extends EventEmitter<{ exit: [{ id: number } & MemberExit] }> implements AsyncDisposable {
  private closed = false;
  /** Where start() spent its time. */
  startTiming: StartTiming | null = null;

  private constructor(
    private readonly members: readonly Member[],
    private readonly faults: ClusterFaults,
    readonly dir: string,
    private readonly ownsDir: boolean,
    readonly seed: number,
  ) {
    super();
    for (const m of members) m.process.on('exit', (exit) => this.emit('exit', { id: m.id, ...exit }));
  }

  /** Starts every member at once and resolves when one leads and all serve. */
  static async start(options: TestingClusterOptions = {}): Promise<TestingCluster> {
    return withPortRetries(() => TestingCluster.startOnce(options));
  }

  private static async startOnce(options: TestingClusterOptions): Promise<TestingCluster> {
    const size = options.size ?? 3;
    const observers = options.observers ?? 0;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a whole number of voters, at least 1, not ${size}`);
    if (!Number.isInteger(observers) || observers < 0) throw new RangeError(`observers must be a whole number, not ${observers}`);
    const count = size + observers;
    if (options.proxyPorts !== undefined && options.proxyPorts.length !== count) throw new RangeError(`proxyPorts needs one port per member (${count}), got ${options.proxyPorts.length}`);
    const settings = memberSettings(options);
    const seed = options.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
    const startedAt = performance.now();
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'zkts-cluster-')));
    let cluster: TestingCluster | null = null;
    const members: Member[] = [];
    const faults = new ClusterFaults(members);
    try {
      const created = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          Member.create({
            id: i + 1,
            role: i < size ? 'participant' : 'observer',
            dir: path.join(dir, `server${i + 1}`),
            proxyPort: options.proxyPorts?.[i] ?? 0,
            settings,
            seed,
            peerFaults: () => faults.rules,
          }),
        ),
      );
      members.push(...created);
      cluster = new TestingCluster(members, faults, dir, ownsDir, seed);
      const serverLines = members.map((m) => m.serverLine());
      await Promise.all(members.map((m) => m.writeConfig(settings, serverLines)));
      const spawnedAt = performance.now();
      const listening = await Promise.all(members.map((m) => m.start().then(() => performance.now() - spawnedAt)));
      const listeningAt = performance.now();
      await cluster.waitForLeader({ timeoutMs: options.startTimeoutMs ?? memberStartTimeoutMs });
      await cluster.waitForServing(members.map((m) => m.id), { timeoutMs: options.startTimeoutMs ?? memberStartTimeoutMs });
      const readyAt = performance.now();
      cluster.startTiming = {
        totalMs: readyAt - startedAt,
        prepareMs: spawnedAt - startedAt,
        spawnMs: listeningAt - spawnedAt,
        electionMs: readyAt - listeningAt,
        members: members.map((m, i) => ({ id: m.id, spawnToListeningMs: listening[i]!, ...m.process.timing! })),
      };
      return cluster;
    } catch (error) {
      const tails = members.map((m) => `--- server ${m.id} ---\n${m.process.log.tail(15)}`).join('\n');
      await Promise.all(members.map((m) => m.close()));
      if (ownsDir) await rm(dir, { recursive: true, force: true });
      if (error instanceof MemberStartError) throw error;
      throw new Error(`the cluster did not start: ${(error as Error).message}\n${tails}`, { cause: error });
    }
  }

  // ---- what it looks like -------------------------------------------------------------

  /** Every member, through its fault proxy: what clients should use. */
  get connectString(): string {
    return this.members.map((m) => m.proxy.connectString).join(',');
  }

  /** Every member's own client port, past the proxies. */
  get directConnectString(): string {
    return this.members.map((m) => m.directConnectString).join(',');
  }

  /** Every member's TLS client port, through the fault proxies; null without the `tls` option. */
  get secureConnectString(): string | null {
    return this.members[0]!.secureConnectString === null ? null : this.members.map((m) => m.secureConnectString).join(',');
  }

  get servers(): ServerInfo[] {
    return this.members.map((m) => m.info());
  }

  server(id: number): ServerInfo {
    return this.member(id).info();
  }

  /** The leader as last seen (by a wait, `status()` or start), if it is still running and unpaused. */
  leader(): number | undefined {
    return this.members.find((m) => m.live && m.observed?.mode === 'leader')?.id;
  }

  /** The followers as last seen (see leader()). */
  followers(): number[] {
    return this.members.filter((m) => m.live && m.observed?.mode === 'follower').map((m) => m.id);
  }

  /** Asks every running member (srvr) what it is now. */
  async status(): Promise<ServerInfo[]> {
    await Promise.all(this.members.map((m) => m.observe()));
    return this.servers;
  }

  /** The fault proxy in front of a member's client ports (plain and TLS): latency, bandwidth, drop, blackhole, reset, cut, heal. */
  net(id: number): TcpProxy {
    return this.member(id).proxy;
  }

  /** Member `id`'s process, for launchers built on this one: its log, exit, timing and signals. */
  memberProcess(id: number): MemberProcess {
    return this.member(id).process;
  }

  /** The last lines member `id` wrote (its whole output is in its logFile). */
  logTail(id: number, lines = 40): string {
    return this.member(id).process.log.tail(lines);
  }

  /** Every member's last lines, for a failure message. */
  logTails(lines = 40): string {
    return this.members.map((m) => `--- server ${m.id} (${m.directConnectString}, ${m.process.state}) ---\n${m.process.log.tail(lines)}`).join('\n');
  }

  // ---- member processes -----------------------------------------------------------------

  /** SIGKILL; resolves once the process is gone. */
  async kill(id: number): Promise<void> {
    await this.member(id).process.kill();
  }

  /** Waits for a leader, kills it (SIGKILL) and returns its id. */
  async killLeader(options: WaitOptions = {}): Promise<number> {
    const id = await this.waitForLeader(options);
    await this.kill(id);
    return id;
  }

  /** SIGTERM, SIGKILL after 5 s; resolves once the process is gone. */
  async stop(id: number): Promise<void> {
    await this.member(id).process.stop();
  }

  /**
   * Starts a stopped member on its own data and ports; resolves once it serves (default) or,
   * with `serving: false`, once it listens (a member alone cannot serve without a quorum).
   */
  async start(id: number, options: WaitOptions & { serving?: boolean } = {}): Promise<void> {
    const m = this.member(id);
    await m.start();
    if (options.serving !== false) await this.waitForServing([id], options);
  }

  /** stop, then start. */
  async restart(id: number, options: WaitOptions & { serving?: boolean } = {}): Promise<void> {
    await this.stop(id);
    await this.start(id, options);
  }

  /** SIGSTOP: the process holds its sockets and does nothing. Resolves once it is stopped. */
  async pause(id: number): Promise<void> {
    const process = this.member(id).process;
    process.pause();
    await process.settled();
  }

  /** SIGCONT. Resolves once the process runs again. */
  async resume(id: number): Promise<void> {
    const process = this.member(id).process;
    process.resume();
    await process.settled();
  }

  // ---- faults -------------------------------------------------------------------------

  /** The peer fault rules in force. */
  get peerFaults(): readonly PeerFaultRule[] {
    return this.faults.rules;
  }

  /** Replaces every peer fault rule; resolves once every running member applied them. */
  async setPeerFaults(rules: readonly PeerFaultRule[]): Promise<void> {
    await this.faults.set(rules);
  }

  /** Cuts member `id` off from its peers and its clients (its proxy blackholes), until heal(). */
  async isolate(id: number): Promise<void> {
    await this.faults.isolate(id);
  }

  /** Cuts the peer links between groups (each member in one group), until heal(). Clients are not affected: use net(id). */
  async partition(groups: readonly (readonly number[])[]): Promise<void> {
    await this.faults.partition(groups);
  }

  /** Messages from `from` to `to` stop arriving (the other direction still works), until heal(). */
  async oneWay(from: number, to: number): Promise<void> {
    await this.faults.oneWay(from, to);
  }

  /** Peer messages are lost with this probability (each loss resets its connection), until heal(). */
  async dropPeerMessages(percent: number, link: LinkSelector = {}): Promise<void> {
    await this.faults.drop(percent, link);
  }

  /** Peer messages arrive `ms` late, in order, until heal(). */
  async delayPeerMessages(ms: number, link: LinkSelector = {}): Promise<void> {
    await this.faults.delay(ms, link);
  }

  /** Removes every fault: peer rules, and every proxy's toxics (held bytes and messages are delivered). */
  async heal(): Promise<void> {
    await this.faults.heal();
  }

  /**
   * Expires a session as ZooKeeper does when its timeout passes: through a second connection
   * with the same id and password, the session is closed. Its ephemerals go on every member,
   * and its owner hears Expired when it next reaches a server.
   */
  async expireSession(sessionId: SessionIdLike): Promise<void> {
    const live = this.members.filter((m) => m.live).map((m) => m.directConnectString);
    await expireSession(live, sessionId);
  }

  // ---- waiting ------------------------------------------------------------------------

  /** Resolves with the id of the one member (running, unpaused, not in `not`) that says it leads. */
  async waitForLeader(options: WaitOptions & { not?: readonly number[] } = {}): Promise<number> {
    const excluded = new Set(options.not ?? []);
    return waitForLeader(this.members.filter((m) => !excluded.has(m.id)), options);
  }

  /** Resolves with the leader's id once it and a majority of the voters serve. */
  async waitForQuorum(options: WaitOptions = {}): Promise<number> {
    return waitForQuorum(this.members, options);
  }

  /** Resolves once each given member (default: every running one) serves clients. */
  async waitForServing(ids: readonly number[] = this.members.filter((m) => m.live).map((m) => m.id), options: WaitOptions = {}): Promise<void> {
    await waitForServing(ids.map((id) => this.member(id)), options);
  }

  /**
   * Resolves once every live member (running and unpaused) reports the same last zxid and the
   * same tree digest (the `hash` four-letter word), each read at one instant on its member;
   * rejects after the deadline (default 10 s) naming what each member reported.
   */
  async assertConverged(options: WaitOptions = {}): Promise<{ zxid: bigint; digest: bigint }> {
    return assertConverged(this.members, options);
  }

  // ---- the end ------------------------------------------------------------------------

  /** Kills every member, closes the proxies and removes the temporary directory (a given `dir` is kept). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.members.map((m) => m.close()));
    if (this.ownsDir && process.env.ZKTS_KEEP_CLUSTER_DIRS === undefined) await rm(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private member(id: number): Member {
    return memberById(this.members, id);
  }
}

export function memberSettings(options: Omit<TestingClusterOptions, 'size' | 'observers' | 'dir' | 'proxyPorts' | 'seed' | 'startTimeoutMs'>): MemberSettings {
  const tickTime = options.tickTime ?? 200;
  return {
    tickTime,
    initLimit: options.initLimit ?? 10,
    syncLimit: options.syncLimit ?? 10,
    minSessionTimeout: options.minSessionTimeout ?? tickTime * 2,
    maxSessionTimeout: options.maxSessionTimeout ?? 60_000,
    snapCount: options.snapCount ?? 100_000,
    logLevel: options.logLevel ?? 'info',
    tls: options.tls === undefined ? null : memberTls(options.tls),
    config: options.config ?? {},
    env: options.env ?? {},
  };
}

export type { MemberStatus, ServerInfo };
