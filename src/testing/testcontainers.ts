// zkts in containers for tests (`zkts/testcontainers`): one server as a ZktsContainer, or an
// ensemble with startZktsCluster({ size }) whose members can be stopped, killed, paused and cut
// off the network, all through Docker. Built on the `testcontainers` package (11.x, an optional
// peer dependency: only this module loads it) and the zkts image (README: Containers).
import { createServer, type AddressInfo } from 'node:net';
import {
  AbstractStartedContainer,
  GenericContainer,
  getContainerRuntimeClient,
  Network,
  type BoundPorts,
  type StartedNetwork,
  type StartedTestContainer,
  type WaitStrategy,
} from 'testcontainers';
import { fourLetterWord } from '../admin/four-letter-client.js';
import { waitFor } from './wait.js';

export const zktsImageDefault = 'zkts:latest';
/** The ports the image's members use inside their network (README: Containers). */
export const zktsClientPort = 2181;
const quorumPort = 2888;
const electionPort = 3888;
/** How long a member may take to answer ruok after its container starts (scaled). */
const memberStartTimeoutMs = 60_000;
/** How long an election may take after a fault (scaled). */
const leaderTimeoutMs = 30_000;
/** How long a four-letter word may take before the member counts as unreachable. */
const probeTimeoutMs = 1_000;
/** Grace a stopped member gets between SIGTERM and SIGKILL, in seconds (Docker's unit). */
const stopGraceSeconds = 10;
/** Lines of a member's log put in an error when it fails to start. */
const logLinesOnFailure = 30;

/** zoo.cfg settings of the members, passed as the image's ZOO_* variables. */
export interface ZktsSettings {
  tickTime?: number;
  initLimit?: number;
  syncLimit?: number;
  maxClientCnxns?: number;
  /** Comma list or '*'; must hold ruok (the readiness probe and the image's health check). */
  fourLetterWords?: string;
  /** Any other zoo.cfg keys (ZOO_CFG_EXTRA), for example { minSessionTimeout: 1000 }. */
  extra?: Record<string, string | number>;
}

function settingsEnvironment(settings: ZktsSettings): Record<string, string> {
  const env: Record<string, string> = {};
  if (settings.tickTime !== undefined) env.ZOO_TICK_TIME = String(settings.tickTime);
  if (settings.initLimit !== undefined) env.ZOO_INIT_LIMIT = String(settings.initLimit);
  if (settings.syncLimit !== undefined) env.ZOO_SYNC_LIMIT = String(settings.syncLimit);
  if (settings.maxClientCnxns !== undefined) env.ZOO_MAX_CLIENT_CNXNS = String(settings.maxClientCnxns);
  if (settings.fourLetterWords !== undefined) env.ZOO_4LW_COMMANDS_WHITELIST = settings.fourLetterWords;
  const extra = Object.entries(settings.extra ?? {});
  if (extra.length > 0) env.ZOO_CFG_EXTRA = extra.map(([key, value]) => `${key}=${value}`).join(' ');
  return env;
}

/** The Docker host as a client on this machine dials it (an IPv4 literal for localhost). */
async function dockerHost(): Promise<string> {
  const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
  return host === 'localhost' ? '127.0.0.1' : host;
}

/** The last lines of a container's log; Docker frames non-TTY output with 8-byte headers. */
async function logTail(containerId: string, lines: number): Promise<string> {
  const docker = (await getContainerRuntimeClient()).container.dockerode;
  const raw = (await docker.getContainer(containerId).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

async function answers(host: string, port: number, word: string): Promise<string | null> {
  try {
    return await fourLetterWord(host, port, word, probeTimeoutMs);
  } catch {
    return null;
  }
}

/** What the readiness wait needs of a container (a dockerode Container has it). */
interface InspectableContainer {
  id: string;
  inspect(): Promise<{ State: { Running: boolean; ExitCode: number } }>;
}

/** Ready when the member answers `imok` through its published client port; fails at once if the container exits. */
class RuokWaitStrategy implements WaitStrategy {
  private startupTimeoutMs = memberStartTimeoutMs;
  private startupTimeoutSet = false;

  async waitUntilReady(container: InspectableContainer, boundPorts: BoundPorts): Promise<void> {
    await waitUntilServing(container, await dockerHost(), boundPorts.getBinding(zktsClientPort), this.startupTimeoutMs);
  }

  withStartupTimeout(startupTimeoutMs: number): this {
    this.startupTimeoutMs = startupTimeoutMs;
    this.startupTimeoutSet = true;
    return this;
  }

  isStartupTimeoutSet(): boolean {
    return this.startupTimeoutSet;
  }

  getStartupTimeout(): number {
    return this.startupTimeoutMs;
  }
}

async function waitUntilServing(container: InspectableContainer, host: string, port: number, timeoutMs: number): Promise<void> {
  const outcome = await waitFor(
    `zkts in container ${container.id.slice(0, 12)} to answer ruok on ${host}:${port}`,
    async () => {
      const { State } = await container.inspect();
      if (!State.Running) return { exitCode: State.ExitCode };
      return (await answers(host, port, 'ruok')) === 'imok' ? { exitCode: null } : false;
    },
    { timeoutMs, intervalMs: 100 },
  );
  if (outcome.exitCode !== null) {
    const log = await logTail(container.id, logLinesOnFailure);
    throw new Error(`zkts container ${container.id.slice(0, 12)} exited with code ${outcome.exitCode} before serving:\n${log}`);
  }
}

/**
 * One zkts server in a container, configured like the image (ZOO_* variables; see withSettings).
 * Without ZOO_SERVERS it is a standalone server; ready once it answers ruok from the host.
 */
export class ZktsContainer extends GenericContainer {
  constructor(image = zktsImageDefault) {
    super(image);
    this.withExposedPorts(zktsClientPort).withWaitStrategy(new RuokWaitStrategy());
  }

  /** zoo.cfg settings, as the image's ZOO_* variables. */
  withSettings(settings: ZktsSettings): this {
    return this.withEnvironment(settingsEnvironment(settings));
  }

  /** Publishes the client port on this host port (the default lets Docker choose). */
  withClientPortOnHost(port: number): this {
    this.exposedPorts = [];
    return this.withExposedPorts({ container: zktsClientPort, host: port });
  }

  override async start(): Promise<StartedZktsContainer> {
    const started = await super.start();
    return new StartedZktsContainer(started, await dockerHost());
  }
}

export class StartedZktsContainer extends AbstractStartedContainer {
  /** host:port of the client port as seen from this machine. */
  readonly connectString: string;

  constructor(started: StartedTestContainer, host: string) {
    super(started);
    this.connectString = `${host}:${started.getMappedPort(zktsClientPort)}`;
  }

  /** Sends a four-letter word to the client port and returns the answer. */
  fourLetterWord(word: string, timeoutMs = probeTimeoutMs): Promise<string> {
    const [host, port] = splitHostPort(this.connectString);
    return fourLetterWord(host, port, word, timeoutMs);
  }

  /** The last lines of the server's log (JSON lines). */
  logTail(lines = logLinesOnFailure): Promise<string> {
    return logTail(this.getId(), lines);
  }
}

function splitHostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

async function freeHostPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** What the cluster last did to a member. */
export type ZktsMemberState = 'running' | 'stopped' | 'paused' | 'isolated';

export interface ZktsServerInfo {
  id: number;
  /** host:port of this member's client port as seen from this machine. */
  connectString: string;
  state: ZktsMemberState;
}

interface Member {
  id: number;
  alias: string;
  container: StartedZktsContainer;
  connectString: string;
  state: ZktsMemberState;
}

export interface ZktsClusterOptions {
  /** Members (ids 1..size); 3 by default. */
  size?: number;
  image?: string;
  settings?: ZktsSettings;
}

/**
 * An ensemble of zkts containers on a private Docker network; clients on this machine reach
 * each member through its own host port (kept across stop/start). The fault methods are
 * named as zkts/testing's TestingCluster names them.
 */
export class ZktsCluster {
  private constructor(
    private readonly network: StartedNetwork,
    private readonly members: Member[],
  ) {}

  static async start(options: ZktsClusterOptions = {}): Promise<ZktsCluster> {
    const size = options.size ?? 3;
    if (!Number.isInteger(size) || size < 1 || size > 254) throw new RangeError(`size must be a whole number from 1 to 254, not ${size}`);
    const network = await new Network().start();
    const started: StartedZktsContainer[] = [];
    try {
      const ids = Array.from({ length: size }, (_, i) => i + 1);
      const ports: number[] = [];
      for (const _ of ids) ports.push(await freeHostPort());
      // A member listens on 0.0.0.0 for its peers: its address changes when it is
      // disconnected from the network and connected again, its alias does not.
      const servers = (self: number) =>
        ids.map((id) => `server.${id}=${id === self ? '0.0.0.0' : `zoo${id}`}:${quorumPort}:${electionPort};${zktsClientPort}`).join(' ');
      const members = await Promise.all(
        ids.map(async (id, i) => {
          const container = await new ZktsContainer(options.image ?? zktsImageDefault)
            .withNetwork(network)
            .withNetworkAliases(`zoo${id}`)
            .withClientPortOnHost(ports[i]!)
            .withLabels({ 'org.zkts.cluster': network.getName(), 'org.zkts.member': String(id) })
            .withSettings(options.settings ?? {})
            .withEnvironment({ ZOO_MY_ID: String(id), ZOO_SERVERS: servers(id) })
            .start();
          started.push(container);
          return { id, alias: `zoo${id}`, container, connectString: container.connectString, state: 'running' as ZktsMemberState };
        }),
      );
      const cluster = new ZktsCluster(network, members);
      await cluster.waitForQuorum();
      return cluster;
    } catch (error) {
      await Promise.allSettled(started.map((c) => c.stop({ timeout: 0, removeVolumes: true })));
      await network.stop().catch(() => undefined);
      throw error;
    }
  }

  /** Every member's client address, for a client on this machine. */
  get connectString(): string {
    return this.members.map((m) => m.connectString).join(',');
  }

  get servers(): ZktsServerInfo[] {
    return this.members.map((m) => ({ id: m.id, connectString: m.connectString, state: m.state }));
  }

  /** The member's container (for its id, logs or exec). */
  container(id: number): StartedZktsContainer {
    return this.member(id).container;
  }

  /** SIGKILL: the process dies at once; its data stays in the container's volumes. */
  async kill(id: number): Promise<void> {
    const member = this.expect(id, 'running');
    const container = await this.docker(member);
    await container.kill();
    await container.wait({ condition: 'not-running' });
    member.state = 'stopped';
  }

  /** Kills the current leader; returns its id. */
  async killLeader(): Promise<number> {
    const id = await this.waitForLeader();
    await this.kill(id);
    return id;
  }

  /** SIGTERM, then SIGKILL after a grace period: the server shuts down cleanly. */
  async stop(id: number): Promise<void> {
    const member = this.expect(id, 'running');
    await (await this.docker(member)).stop({ t: stopGraceSeconds });
    member.state = 'stopped';
  }

  /** Starts a stopped or killed member on its data; resolves once it answers ruok. */
  async start(id: number): Promise<void> {
    const member = this.expect(id, 'stopped');
    const container = await this.docker(member);
    await container.start();
    member.state = 'running';
    const [host, port] = splitHostPort(member.connectString);
    await waitUntilServing(container, host, port, memberStartTimeoutMs);
  }

  async restart(id: number): Promise<void> {
    await this.stop(id);
    await this.start(id);
  }

  /** Freezes every process of the member (SIGSTOP of its cgroup): a server that hangs. */
  async pause(id: number): Promise<void> {
    const member = this.expect(id, 'running');
    await (await this.docker(member)).pause();
    member.state = 'paused';
  }

  async resume(id: number): Promise<void> {
    const member = this.expect(id, 'paused');
    await (await this.docker(member)).unpause();
    member.state = 'running';
  }

  /** Disconnects the member from the cluster's network: no peer and no client reaches it. */
  async isolate(id: number): Promise<void> {
    const member = this.expect(id, 'running');
    const docker = (await getContainerRuntimeClient()).container.dockerode;
    await docker.getNetwork(this.network.getId()).disconnect({ Container: member.container.getId(), Force: true });
    member.state = 'isolated';
  }

  /** Connects every isolated member to the network again, under its alias. */
  async heal(): Promise<void> {
    const docker = (await getContainerRuntimeClient()).container.dockerode;
    for (const member of this.members.filter((m) => m.state === 'isolated')) {
      await docker.getNetwork(this.network.getId()).connect({ Container: member.container.getId(), EndpointConfig: { Aliases: [member.alias] } });
      member.state = 'running';
    }
  }

  /** One look: the id of the member that says it leads, or null. */
  async leader(): Promise<number | null> {
    const modes = await this.modes();
    return modes.find((m) => m.mode === 'leader')?.id ?? null;
  }

  /** One look: the ids of the members that say they follow. */
  async followers(): Promise<number[]> {
    return (await this.modes()).filter((m) => m.mode === 'follower').map((m) => m.id);
  }

  /**
   * Waits until one reachable member leads with a majority of the ensemble behind it; its id.
   * `not` leaves members out, for waiting on a successor while the old leader is still going.
   */
  async waitForLeader(options: { not?: readonly number[]; timeoutMs?: number } = {}): Promise<number> {
    const majority = Math.floor(this.members.length / 2) + 1;
    const not = options.not ?? [];
    return waitFor(
      not.length === 0 ? 'a zkts leader with a quorum' : `a zkts leader other than ${not.join(', ')} with a quorum`,
      async () => {
        const modes = await this.modes();
        const leaders = modes.filter((m) => m.mode === 'leader' && !not.includes(m.id));
        const followers = modes.filter((m) => m.mode === 'follower');
        return leaders.length === 1 && leaders.length + followers.length >= majority ? leaders[0]!.id : null;
      },
      { timeoutMs: options.timeoutMs ?? leaderTimeoutMs, intervalMs: 50 },
    );
  }

  /** Waits until every running member serves, as the one leader or a follower; the leader's id. */
  async waitForQuorum(options: { timeoutMs?: number } = {}): Promise<number> {
    const majority = Math.floor(this.members.length / 2) + 1;
    return waitFor(
      'every running zkts member in the quorum',
      async () => {
        const running = this.members.filter((m) => m.state === 'running');
        const modes = await this.modes();
        const leaders = modes.filter((m) => m.mode === 'leader');
        const serving = modes.filter((m) => m.mode === 'leader' || m.mode === 'follower');
        return leaders.length === 1 && serving.length === running.length && serving.length >= majority ? leaders[0]!.id : null;
      },
      { timeoutMs: options.timeoutMs ?? leaderTimeoutMs, intervalMs: 50 },
    );
  }

  /** Waits until every running member reports the same last zxid and node count; throws with each one's otherwise. */
  async assertConverged(options: { timeoutMs?: number } = {}): Promise<void> {
    let last = '';
    try {
      await waitFor(
        'the running zkts members to agree on zxid and node count',
        async () => {
          const running = this.members.filter((m) => m.state === 'running');
          const views = await Promise.all(
            running.map(async (m) => {
              const text = (await answers(...splitHostPort(m.connectString), 'srvr')) ?? '';
              return `${m.id}: zxid ${/^Zxid: (\S+)/m.exec(text)?.[1] ?? '?'}, nodes ${/^Node count: (\d+)/m.exec(text)?.[1] ?? '?'}`;
            }),
          );
          last = views.join('; ');
          const distinct = new Set(views.map((v) => v.slice(v.indexOf(':') + 1)));
          return distinct.size === 1 && !last.includes('?');
        },
        { timeoutMs: options.timeoutMs ?? leaderTimeoutMs, intervalMs: 100 },
      );
    } catch (error) {
      throw new Error(`zkts members did not converge: ${last}`, { cause: error });
    }
  }

  /** Removes the members (with their volumes) and the network. */
  async close(): Promise<void> {
    await Promise.allSettled(this.members.map((m) => (m.state === 'paused' ? this.docker(m).then((c) => c.unpause()) : undefined)));
    await Promise.allSettled(this.members.map((m) => m.container.stop({ timeout: 0, removeVolumes: true })));
    await this.network.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async modes(): Promise<{ id: number; mode: string | null }[]> {
    const reachable = this.members.filter((m) => m.state === 'running');
    return Promise.all(
      reachable.map(async (m) => {
        const text = await answers(...splitHostPort(m.connectString), 'srvr');
        return { id: m.id, mode: text === null ? null : (/^Mode: (\S+)/m.exec(text)?.[1] ?? null) };
      }),
    );
  }

  private member(id: number): Member {
    const member = this.members.find((m) => m.id === id);
    if (member === undefined) throw new RangeError(`no member ${id} (ids are 1..${this.members.length})`);
    return member;
  }

  private expect(id: number, state: ZktsMemberState): Member {
    const member = this.member(id);
    if (member.state !== state) throw new Error(`member ${id} is ${member.state}, not ${state}`);
    return member;
  }

  private async docker(member: Member) {
    return (await getContainerRuntimeClient()).container.dockerode.getContainer(member.container.getId());
  }
}

/** Starts an ensemble of `size` zkts containers and waits for its quorum. */
export function startZktsCluster(options: ZktsClusterOptions = {}): Promise<ZktsCluster> {
  return ZktsCluster.start(options);
}
