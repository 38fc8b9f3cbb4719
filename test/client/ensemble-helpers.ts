// Helpers for the client's failover tests against a real three-process zkts ensemble: the
// fault proxy in front of every member (so a test can hold or blackhole one server's traffic
// without touching the others), clients that record their state changes and their own log, and
// a way to tell which member a client is on. The ensemble itself comes from
// test/ensemble/cluster-harness.ts, its proxies from the launcher under it.
import { createClient, type ClientLogger, type ClientOptions, type StateChange, type ZooKeeperClient } from '../../src/client/index.js';
import type { TcpProxy } from '../../src/faults/index.js';
import { type Cluster, type Member, waitFor, withDeadline } from '../ensemble/cluster-harness.js';


/** Lines of client log kept per client for a failure message. */
const clientLogLinesMax = 200;
const clientCloseTimeoutMs = 2_000;

const json = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

/** A client with everything it went through, for assertions and failure messages. */
export class TrackedClient {
  readonly states: StateChange[] = [];
  readonly logLines: string[] = [];

  constructor(
    readonly name: string,
    readonly zk: ZooKeeperClient,
  ) {
    zk.on('state', (change) => this.states.push(change));
  }

  stateNames(): string[] {
    return this.states.map((s) => s.state);
  }

  /** States with servers, times (relative to the first) and reasons: for failure messages. */
  history(): string {
    const start = this.states[0]?.at ?? 0;
    const lines = this.states.map((s) => `  +${s.at - start}ms ${s.state} server=${s.server ?? '-'} session=0x${s.sessionId.toString(16)}${s.reason === undefined ? '' : ` (${s.reason})`}`);
    return `client ${this.name} states:\n${lines.join('\n')}\nclient ${this.name} log tail:\n${this.logLines.slice(-40).join('\n')}`;
  }

  /** The state changes after index `from` whose state is `state`. */
  statesSince(from: number, state: string): StateChange[] {
    return this.states.slice(from).filter((s) => s.state === state);
  }

  logger(): ClientLogger {
    const push = (level: string, obj: object, msg?: string): void => {
      this.logLines.push(`${new Date().toISOString()} ${level} ${msg ?? ''} ${json(obj)}`);
      if (this.logLines.length > clientLogLinesMax) this.logLines.splice(0, this.logLines.length - clientLogLinesMax);
    };
    return {
      debug: (obj, msg) => push('debug', obj, msg),
      info: (obj, msg) => push('info', obj, msg),
      warn: (obj, msg) => push('warn', obj, msg),
    };
  }
}

/**
 * The members' fault proxies (the launcher's, one per member, for the cluster's life) plus the
 * clients of one test file. A restarted member keeps its port, so its proxy keeps working.
 */
export class ProxiedEnsemble {
  private readonly clients: TrackedClient[] = [];

  private constructor(readonly cluster: Cluster) {}

  static async start(cluster: Cluster): Promise<ProxiedEnsemble> {
    return new ProxiedEnsemble(cluster);
  }

  proxy(member: Member): TcpProxy {
    return this.cluster.testing.net(member.sid);
  }

  /** The connect string of these members through their proxies, in the given order. */
  proxiedConnectString(members: readonly Member[]): string {
    return members.map((m) => this.proxy(m).connectString).join(',');
  }

  /** The member behind "host:port", whether that is its client port or its proxy's port. */
  memberAt(server: string | undefined): Member | undefined {
    const port = Number(server?.split(':').pop());
    return this.cluster.members.find((m) => m.clientPort === port || this.proxy(m).port === port);
  }

  /** Every proxy back to forwarding; what they held is delivered. */
  healAll(): void {
    for (const m of this.cluster.members) this.proxy(m).heal();
  }

  /**
   * A connected client on the given connect string (the host order is kept), recording its
   * states and its log. Closed by closeClients().
   */
  async connect(name: string, connectString: string, options: ClientOptions = {}): Promise<TrackedClient> {
    const tracked = this.make(name, connectString, options);
    await withDeadline(tracked.zk.connect(), 15_000, `client ${name} to connect to ${connectString}`);
    return tracked;
  }

  make(name: string, connectString: string, options: ClientOptions = {}): TrackedClient {
    // The client needs its logger before the tracker exists; the tracker fills in the sink.
    let sink: ClientLogger | undefined;
    const logger: ClientLogger = {
      debug: (o, m) => sink?.debug(o, m),
      info: (o, m) => sink?.info(o, m),
      warn: (o, m) => sink?.warn(o, m),
    };
    const zk = createClient(connectString, {
      sessionTimeout: 4_000,
      shuffleHosts: false,
      reconnectDelay: { min: 20, max: 200 },
      closeTimeout: 1_000,
      logger,
      ...options,
    });
    const tracked = new TrackedClient(name, zk);
    sink = tracked.logger();
    this.clients.push(tracked);
    return tracked;
  }

  /** A plain client on one member (no proxy), for looking at what that server holds. */
  on(member: Member, name = `observer-on-${member.sid}`): Promise<TrackedClient> {
    return this.connect(name, member.connectString, { sessionTimeout: 10_000 });
  }

  /** Histories of every client of the current test, for a failure message. */
  histories(): string {
    return this.clients.map((c) => c.history()).join('\n');
  }

  async closeClients(): Promise<void> {
    const all = this.clients.splice(0);
    await Promise.all(all.map((c) => withDeadline(c.zk.close(), clientCloseTimeoutMs, `close ${c.name}`).catch(() => undefined)));
  }

  /** Closes the clients; the proxies close with the cluster. */
  async close(): Promise<void> {
    await this.closeClients();
  }
}

/** The leader and the followers, once one leader is up and every running member serves. */
export async function roles(cluster: Cluster): Promise<{ leader: Member; followers: Member[] }> {
  const leader = await cluster.waitForLeader();
  const followers = cluster.members.filter((m) => m !== leader);
  await cluster.waitForServing(cluster.members);
  return { leader, followers };
}

/** Waits until the client is SYNC_CONNECTED again after state index `from`, returning that change. */
export async function reconnectedAfter(client: TrackedClient, from: number, timeoutMs: number, what: string): Promise<StateChange> {
  return waitFor(what, () => {
    const later = client.states.slice(from);
    const i = later.findIndex((s) => s.state === 'DISCONNECTED');
    if (i < 0) return undefined;
    return later.slice(i).find((s) => s.state === 'SYNC_CONNECTED');
  }, { timeoutMs }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n${client.history()}`);
  });
}

/** Waits for `client` to be in `state`. */
export async function stateReached(client: TrackedClient, state: string, timeoutMs: number): Promise<StateChange> {
  return waitFor(`client ${client.name} to be ${state}`, () => client.states.find((s, i) => s.state === state && i === client.states.length - 1), { timeoutMs, intervalMs: 20 }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n${client.history()}`);
  });
}

/** A promise's outcome as a value: 'ok' or the error's code, never a rejection. */
export function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: number | undefined; message: string }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, code: (error as { code?: number }).code, message: (error as Error).message }),
  );
}
