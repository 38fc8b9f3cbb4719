// The cluster `zkts cluster up` runs: a TestingCluster (the one launcher) on a data directory
// kept across runs, with its fault proxies on fixed ports, and what each subcommand does to it.
// Every fault goes through the launcher: peer faults through the members' peer transports,
// client faults through the proxies.
import { fourLetterWord } from '../admin/four-letter-client.js';
import { TestingCluster, type TestingClusterOptions } from '../testing/cluster.js';
import { parseSessionId } from '../testing/kill-session.js';
import { scaled } from '../testing/wait.js';
import type { Progress } from './cluster-control.js';
import type { ClusterRequest, NetFault, Target } from './cluster-requests.js';
import { memberView, renderConnectStrings, renderTable, type ClusterView } from './cluster-view.js';

export interface SupervisorOptions {
  /** Absolute. Holds server<id>/ (zoo.cfg, data/, server.log) for each member. */
  dataDir: string;
  nodes: number;
  observers: number;
  /** The first member's proxy port; the others follow. 0: every one from the OS. */
  basePort: number;
  tickTime: number;
  /** A TLS client port on every member, behind its proxy; undefined: plain only. */
  tls?: TestingClusterOptions['tls'];
  logLevel: string;
  env: Readonly<Record<string, string>>;
}

/** What a command did: a line for the user, and data for --json. */
export interface Outcome {
  message: string;
  data?: unknown;
}

// ZooKeeper's sample zoo.cfg, as conf/ensemble/ has it; session timeouts as a server defaults them.
const initLimit = 10;
const syncLimit = 5;
const minSessionTimeoutTicks = 2;
const maxSessionTimeoutTicks = 20;
const fourLetterWordTimeoutMs = 2_000;

/** A member that rejoins gets initLimit ticks to sync; this leaves room for an election before. */
function rejoinTimeoutMs(tickTime: number): number {
  return Math.max(30_000, 2 * (initLimit + syncLimit) * tickTime);
}

/** The sessions a member's `dump` lists under Global Sessions. */
export function sessionsInDump(dump: string): string[] {
  const lines = dump.split('\n');
  const start = lines.findIndex((l) => /^Global Sessions\(\d+\):$/.test(l));
  if (start < 0) return [];
  const ids: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^(0x[0-9a-f]+)\t\d+ms$/.exec(line);
    if (match === null) break;
    ids.push(match[1]!);
  }
  return ids;
}

export class ClusterSupervisor {
  /** Commands that change the cluster run one at a time, in the order they came. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly cluster: TestingCluster,
    readonly options: SupervisorOptions,
  ) {}

  /** Starts every member; resolves once one leads and all serve. */
  static async start(options: SupervisorOptions): Promise<ClusterSupervisor> {
    const count = options.nodes + options.observers;
    const cluster = await TestingCluster.start({
      size: options.nodes,
      observers: options.observers,
      tickTime: options.tickTime,
      initLimit,
      syncLimit,
      minSessionTimeout: minSessionTimeoutTicks * options.tickTime,
      maxSessionTimeout: maxSessionTimeoutTicks * options.tickTime,
      config: { extendedTypesEnabled: true },
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      logLevel: options.logLevel,
      env: options.env,
      dir: options.dataDir,
      proxyPorts: options.basePort === 0 ? undefined : Array.from({ length: count }, (_, i) => options.basePort + i),
      startTimeoutMs: rejoinTimeoutMs(options.tickTime),
    });
    return new ClusterSupervisor(cluster, options);
  }

  /** The cluster as last observed (no I/O). */
  view(): ClusterView {
    const servers = this.cluster.servers;
    const ids = servers.map((s) => s.id);
    const rules = this.cluster.peerFaults;
    return {
      dataDir: this.options.dataDir,
      pid: process.pid,
      tickTime: this.options.tickTime,
      connectString: this.cluster.connectString,
      directConnectString: this.cluster.directConnectString,
      secureConnectString: this.cluster.secureConnectString,
      leader: this.cluster.leader() ?? null,
      members: servers.map((s) => memberView(s, this.cluster.net(s.id).toxics, ids, rules)),
      peerFaults: rules,
    };
  }

  /** Asks every running member what it is now (srvr), then returns the view. */
  async refresh(): Promise<ClusterView> {
    await this.cluster.status();
    return this.view();
  }

  /** Carries out one request (not `down`: the `up` process owns its own end). */
  async execute(request: ClusterRequest, progress: Progress): Promise<Outcome> {
    if (request.command === 'status') {
      const view = await this.refresh();
      return { message: `${renderConnectStrings(view)}\n${renderTable(view)}`, data: view };
    }
    const run = this.queue.then(() => this.change(request, progress));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async change(request: ClusterRequest, progress: Progress): Promise<Outcome> {
    switch (request.command) {
      case 'kill':
        return this.kill(request.target);
      case 'stop':
        this.mustBe(request.id, 'running', 'paused');
        await this.cluster.stop(request.id);
        return { message: `server ${request.id} stopped (SIGTERM)` };
      case 'start':
        this.mustBe(request.id, 'stopped');
        return this.startMember(request.id);
      case 'restart':
        this.mustBe(request.id, 'running', 'paused');
        await this.cluster.stop(request.id);
        return this.startMember(request.id);
      case 'pause':
        await this.cluster.pause(request.id);
        return { message: `server ${request.id} paused (SIGSTOP): it holds its sockets and answers nothing until resumed` };
      case 'resume':
        await this.cluster.resume(request.id);
        return { message: `server ${request.id} resumed (SIGCONT)` };
      case 'isolate':
        await this.cluster.isolate(request.id);
        return { message: `server ${request.id} isolated: no peer hears it or is heard by it, and its clients' proxy (${this.cluster.server(request.id).connectString}) blackholes; heal undoes it` };
      case 'partition':
        return this.partition(request.groups);
      case 'heal':
        await this.cluster.heal();
        return { message: 'healed: no peer fault and no client fault is left' };
      case 'net':
        return this.net(request.id, request.fault);
      case 'expire':
        return request.session === 'all' ? this.expireAll() : this.expire(request.session);
      case 'rolling-restart':
        return this.rollingRestart(progress);
      case 'status':
      case 'down':
        throw new Error(`${request.command} is not a change`);
    }
  }

  /** Throws, naming the member's state, unless it is in one of `states`. */
  private mustBe(id: number, ...states: string[]): void {
    const state = this.cluster.server(id).state;
    if (!states.includes(state)) throw new Error(`server ${id} is ${state}`);
  }

  private async kill(target: Target): Promise<Outcome> {
    const id = target === 'leader' ? await this.cluster.waitForLeader({ timeoutMs: 5_000 }).catch(() => null) : target;
    if (id === null) throw new Error('no member leads right now (is a quorum up?); nothing killed');
    const wasLeader = target === 'leader' || this.cluster.leader() === id;
    this.mustBe(id, 'starting', 'running', 'paused');
    await this.cluster.kill(id);
    return { message: `server ${id} killed (SIGKILL)${wasLeader ? '; it was the leader' : ''}` };
  }

  /** Starts a stopped member; says whether it serves (it cannot without a quorum). */
  private async startMember(id: number): Promise<Outcome> {
    await this.cluster.start(id, { serving: false });
    const pid = this.cluster.server(id).pid;
    try {
      await this.cluster.waitForServing([id], { timeoutMs: rejoinTimeoutMs(this.options.tickTime) });
    } catch {
      return { message: `server ${id} started (pid ${pid}); it listens but does not serve yet (it needs a quorum)` };
    }
    return { message: `server ${id} started (pid ${pid}) and serves as ${this.cluster.server(id).mode}` };
  }

  private async partition(groups: readonly (readonly number[])[]): Promise<Outcome> {
    const listed = new Set(groups.flat());
    const rest = this.cluster.servers.map((s) => s.id).filter((id) => !listed.has(id));
    const all = rest.length > 0 ? [...groups, rest] : groups;
    if (all.length < 2) throw new Error('a partition needs at least two groups');
    await this.cluster.partition(all);
    return { message: `partitioned: ${all.map((g) => `{${g.join(',')}}`).join(' | ')} (peer links only; clients still reach every member)` };
  }

  private net(id: number, fault: NetFault): Outcome {
    const proxy = this.cluster.net(id);
    const where = `server ${id}'s clients (${proxy.connectString})`;
    switch (fault.kind) {
      case 'latency':
        proxy.latency(fault.ms, fault.jitterMs);
        return { message: `${where}: replies arrive ${fault.ms} ms late${fault.jitterMs > 0 ? ` (±${fault.jitterMs} ms)` : ''}` };
      case 'drop':
        proxy.drop(fault.percent);
        return { message: `${where}: ${fault.percent}% of chunks are lost, each loss resetting its connection` };
      case 'blackhole':
        proxy.blackhole();
        return { message: `${where}: silence; nothing is forwarded either way until healed` };
      case 'reset':
        proxy.reset();
        return { message: `${where}: every connection is reset, new ones too, until healed` };
      case 'bandwidth':
        proxy.bandwidth(fault.kibPerSecond);
        return { message: `${where}: replies limited to ${fault.kibPerSecond} KiB/s per connection` };
      case 'heal':
        proxy.heal();
        return { message: `${where}: no toxic left` };
    }
  }

  private async expire(session: string): Promise<Outcome> {
    const id = parseSessionId(session);
    await this.cluster.expireSession(id);
    return { message: `session 0x${id.toString(16)} expired: its ephemerals are gone and its owner hears Expired` };
  }

  /** Expires every session the members know (each member's `dump` lists them all). */
  private async expireAll(): Promise<Outcome> {
    const live = this.cluster.servers.filter((s) => s.state === 'running');
    const dumps = await Promise.all(live.map((s) => fourLetterWord(...hostPort(s.directConnectString), 'dump', scaled(fourLetterWordTimeoutMs)).catch(() => null)));
    if (dumps.every((d) => d === null)) throw new Error('no member answered dump; nothing expired');
    const sessions = [...new Set(dumps.flatMap((d) => (d === null ? [] : sessionsInDump(d))))];
    if (sessions.length === 0) return { message: 'no session to expire', data: { expired: [] } };
    const expired: string[] = [];
    const failed: string[] = [];
    for (const session of sessions) {
      try {
        await this.cluster.expireSession(session);
        expired.push(session);
      } catch (error) {
        // One that ended meanwhile has nothing left to expire.
        if (!/is not alive/.test((error as Error).message)) failed.push(`${session}: ${(error as Error).message}`);
      }
    }
    if (failed.length > 0) throw new Error(`expired ${expired.length} session(s); could not expire ${failed.length}: ${failed.join('; ')}`);
    return { message: `expired ${expired.length} session(s): ${expired.join(', ')}`, data: { expired } };
  }

  /**
   * Restarts every member, one at a time (followers and observers first, the leader last): each
   * must be back and serving, with every member serving, before the next goes down.
   */
  private async rollingRestart(progress: Progress): Promise<Outcome> {
    const timeoutMs = rejoinTimeoutMs(this.options.tickTime);
    const notRunning = this.cluster.servers.find((s) => s.state !== 'running');
    if (notRunning !== undefined) throw new Error(`a rolling restart needs every member running; server ${notRunning.id} is ${notRunning.state}`);
    const all = this.cluster.servers.map((s) => s.id);
    await this.cluster.waitForServing(all, { timeoutMs: 5_000 }).catch(() => {
      throw new Error('a rolling restart needs every member serving, and not all do now (see status)');
    });
    const leader = await this.cluster.waitForLeader({ timeoutMs: 5_000 });
    const order = [...all.filter((id) => id !== leader), leader];
    for (const id of order) {
      const startedAt = performance.now();
      progress(`restarting server ${id} (${this.cluster.server(id).mode})`);
      await this.cluster.stop(id);
      await this.cluster.start(id, { serving: false });
      await this.cluster.waitForServing([id], { timeoutMs });
      await this.cluster.waitForQuorum({ timeoutMs });
      await this.cluster.waitForServing(all, { timeoutMs });
      progress(`server ${id} is back as ${this.cluster.server(id).mode} after ${((performance.now() - startedAt) / 1000).toFixed(1)} s; all ${all.length} members serve`);
    }
    return { message: `rolling restart done: ${order.join(', ')} restarted one at a time; server ${this.cluster.leader() ?? '?'} leads` };
  }

  /** Stops every member (SIGTERM, SIGKILL after 5 s), then the proxies. Data stays. */
  async shutdown(progress: Progress): Promise<number[]> {
    const pids = this.cluster.servers.map((s) => s.pid).filter((pid): pid is number => pid !== undefined);
    await Promise.all(
      this.cluster.servers.map(async (s) => {
        if (s.state === 'stopped') return;
        await this.cluster.stop(s.id);
        progress(`server ${s.id} stopped`);
      }),
    );
    await this.cluster.close();
    return pids;
  }
}

function hostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
