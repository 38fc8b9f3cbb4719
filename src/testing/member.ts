import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { clientAuthModes, type ClientAuthMode } from '../config/security.js';
import { fourLetterWord } from '../admin/four-letter-client.js';
import type { PeerFaultRule } from '../faults/peer-faults.js';
import { TcpProxy } from '../faults/tcp-proxy.js';
import { MemberProcess, MemberStartError, type MemberState } from './member-process.js';
import { loopback, portsShareable, reservePort, type PortReservation } from './ports.js';
import { scaled } from './wait.js';

export type MemberRole = 'participant' | 'observer' | 'standalone';

/** A member as a launcher shows it. */
export interface ServerInfo {
  readonly id: number;
  readonly role: MemberRole;
  /** Through the member's fault proxy: what clients should use. */
  readonly connectString: string;
  /** The member's own client port, past the proxy. */
  readonly directConnectString: string;
  /** Its TLS client port through the same fault proxy; null without the `tls` option. */
  readonly secureConnectString: string | null;
  /** Its own TLS client port, past the proxy; null without the `tls` option. */
  readonly directSecureConnectString: string | null;
  /** The process: starting, running, paused or stopped. */
  readonly state: MemberState;
  /** What it last answered to srvr: leader, follower, observer, standalone, looking; null: not asked yet or no answer. */
  readonly mode: string | null;
  /** The last zxid it reported to srvr; null while it does not serve (or was not asked yet). */
  readonly zxid: bigint | null;
  readonly pid: number | undefined;
  /** The member's ports: client (its own), quorum and election (in its server.N line), and its proxy's. */
  readonly ports: { readonly client: number; readonly quorum: number; readonly election: number; readonly proxy: number };
  readonly dataDir: string;
  readonly configPath: string;
  readonly logFile: string;
}

/** What srvr says about a member. */
export interface MemberStatus {
  mode: string;
  zxid: bigint;
}

/** A TLS client port on every member: PEM files (see TestingClusterOptions.tls). */
export interface MemberTls {
  keyStore: string;
  trustStore?: string;
  clientAuth?: ClientAuthMode;
}

/** The tls option, checked, with absolute paths (zoo.cfg would read relative ones from its own directory). */
export function memberTls(tls: MemberTls): MemberTls {
  if (typeof tls.keyStore !== 'string' || tls.keyStore === '') throw new TypeError('tls.keyStore must be the path of a PEM file with the key and certificate');
  if (tls.trustStore !== undefined && (typeof tls.trustStore !== 'string' || tls.trustStore === '')) throw new TypeError('tls.trustStore must be the path of a CA PEM file');
  if (tls.clientAuth !== undefined && !clientAuthModes.includes(tls.clientAuth)) throw new RangeError(`tls.clientAuth must be one of ${clientAuthModes.join(', ')}, not ${String(tls.clientAuth)}`);
  return {
    keyStore: path.resolve(tls.keyStore),
    ...(tls.trustStore === undefined ? {} : { trustStore: path.resolve(tls.trustStore) }),
    ...(tls.clientAuth === undefined ? {} : { clientAuth: tls.clientAuth }),
  };
}

/** The settings every member's zoo.cfg takes from its launcher. */
export interface MemberSettings {
  tickTime: number;
  initLimit: number;
  syncLimit: number;
  minSessionTimeout: number;
  maxSessionTimeout: number;
  snapCount: number;
  logLevel: string;
  tls: MemberTls | null;
  /** Extra zoo.cfg keys. */
  config: Readonly<Record<string, string | number | boolean>>;
  env: Readonly<Record<string, string>>;
}

const fourLetterWordTimeoutMs = 1_000;

interface MemberPorts {
  client: PortReservation;
  quorum: PortReservation;
  election: PortReservation;
  /** The TLS client port, with the `tls` option. */
  secureClient?: PortReservation;
}

/**
 * One server of a launcher: its directory (zoo.cfg, data/, server.log), ports reserved for its
 * life (client, quorum, election, and a TLS client port with `tls`), the fault proxy in front
 * of its client ports (the TLS bytes pass through it unchanged), and its process.
 */
export class Member {
  /** What the member last answered to srvr. */
  observed: MemberStatus | null = null;
  readonly process: MemberProcess;

  private constructor(
    readonly id: number,
    readonly role: MemberRole,
    readonly dir: string,
    readonly ports: MemberPorts,
    readonly proxy: TcpProxy,
    /** The proxy's listener in front of the TLS client port. */
    readonly secureConnectString: string | null,
    settings: MemberSettings,
    seed: number,
    peerFaults: () => readonly PeerFaultRule[],
  ) {
    this.process = new MemberProcess({
      name: `server ${id}`,
      configPath: this.configPath,
      logFile: this.logFile,
      logLevel: settings.logLevel,
      env: settings.env,
      seed: seed + id,
      peerFaults,
    });
  }

  /** Reserves ports, opens the proxy (on `proxyPort`, or one from the OS) and makes the directory. */
  static async create(options: {
    id: number;
    role: MemberRole;
    dir: string;
    proxyPort: number;
    settings: MemberSettings;
    seed: number;
    peerFaults: () => readonly PeerFaultRule[];
  }): Promise<Member> {
    const [client, quorum, election, secureClient] = await Promise.all([reservePort(), reservePort(), reservePort(), options.settings.tls === null ? undefined : reservePort()]);
    const ports: MemberPorts = { client, quorum, election, ...(secureClient === undefined ? {} : { secureClient }) };
    const proxy = await TcpProxy.start({ upstream: { host: loopback, port: client.port }, port: options.proxyPort, seed: options.seed + options.id });
    const secureConnectString = secureClient === undefined ? null : await proxy.listenAlso({ upstream: { host: loopback, port: secureClient.port } });
    await mkdir(path.join(options.dir, 'data'), { recursive: true });
    return new Member(options.id, options.role, options.dir, ports, proxy, secureConnectString, options.settings, options.seed, options.peerFaults);
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get configPath(): string {
    return path.join(this.dir, 'zoo.cfg');
  }

  get logFile(): string {
    return path.join(this.dir, 'server.log');
  }

  get clientPort(): number {
    return this.ports.client.port;
  }

  get directConnectString(): string {
    return `${loopback}:${this.clientPort}`;
  }

  get directSecureConnectString(): string | null {
    return this.ports.secureClient === undefined ? null : `${loopback}:${this.ports.secureClient.port}`;
  }

  /** Running and not paused: it can answer. */
  get live(): boolean {
    return this.process.state === 'running';
  }

  info(): ServerInfo {
    return {
      id: this.id,
      role: this.role,
      connectString: this.proxy.connectString,
      directConnectString: this.directConnectString,
      secureConnectString: this.secureConnectString,
      directSecureConnectString: this.directSecureConnectString,
      state: this.process.state,
      mode: this.live ? (this.observed?.mode ?? null) : null,
      zxid: this.live && this.observed !== null && this.observed.zxid >= 0n ? this.observed.zxid : null,
      pid: this.process.pid,
      ports: { client: this.clientPort, quorum: this.ports.quorum.port, election: this.ports.election.port, proxy: this.proxy.port },
      dataDir: this.dataDir,
      configPath: this.configPath,
      logFile: this.logFile,
    };
  }

  /** The server.N line others know this member by. */
  serverLine(): string {
    const role = this.role === 'observer' ? ':observer' : '';
    return `server.${this.id}=${loopback}:${this.ports.quorum.port}:${this.ports.election.port}${role};${this.clientPort}`;
  }

  /** Writes myid and zoo.cfg; `serverLines` empty makes a standalone server. Keys in settings.config win. */
  async writeConfig(settings: MemberSettings, serverLines: readonly string[]): Promise<void> {
    const keys: Record<string, string | number | boolean> = {
      tickTime: settings.tickTime,
      initLimit: settings.initLimit,
      syncLimit: settings.syncLimit,
      dataDir: this.dataDir,
      clientPort: this.clientPort,
      clientPortAddress: loopback,
      snapCount: settings.snapCount,
      minSessionTimeout: settings.minSessionTimeout,
      maxSessionTimeout: settings.maxSessionTimeout,
      '4lw.commands.whitelist': '*',
      ...(settings.tls === null ? {} : this.tlsKeys(settings.tls)),
      ...settings.config,
    };
    const lines = [...Object.entries(keys).map(([key, value]) => `${key}=${value}`), ...serverLines];
    await writeFile(path.join(this.dataDir, 'myid'), `${this.id}\n`);
    await writeFile(this.configPath, `${lines.join('\n')}\n`);
  }

  private tlsKeys(tls: MemberTls): Record<string, string> {
    return {
      secureClientPort: String(this.ports.secureClient!.port),
      secureClientPortAddress: loopback,
      'ssl.keyStore.location': tls.keyStore,
      ...(tls.trustStore === undefined ? {} : { 'ssl.trustStore.location': tls.trustStore }),
      'ssl.clientAuth': tls.clientAuth ?? (tls.trustStore === undefined ? 'none' : 'need'),
    };
  }

  /** Starts the process on this member's ports; resolves once it listens. */
  async start(): Promise<void> {
    this.observed = null;
    const listening = [this.ports.client, this.ports.election, ...(this.ports.secureClient === undefined ? [] : [this.ports.secureClient])];
    await startOnReservedPorts(this.process, listening);
  }

  /** srvr on the member's own port; null when it does not answer with a mode. */
  async observe(): Promise<MemberStatus | null> {
    if (!this.live) {
      this.observed = null;
      return null;
    }
    let status: MemberStatus | null = null;
    try {
      const text = await fourLetterWord(loopback, this.clientPort, 'srvr', scaled(fourLetterWordTimeoutMs));
      const mode = /^Mode: (\S+)/m.exec(text)?.[1];
      const zxid = /^Zxid: (0x[0-9a-f]+)/im.exec(text)?.[1];
      if (mode !== undefined && zxid !== undefined) status = { mode, zxid: BigInt(zxid) };
      else if (text.includes('not currently serving')) status = { mode: 'looking', zxid: -1n };
    } catch {
      status = null;
    }
    this.observed = status;
    return status;
  }

  /** The `hash` four-letter word: last zxid and tree digest, read at one instant. */
  async digest(): Promise<{ zxid: bigint; digest: bigint } | string> {
    let text: string;
    try {
      text = await fourLetterWord(loopback, this.clientPort, 'hash', scaled(fourLetterWordTimeoutMs * 5));
    } catch (err) {
      return `no answer (${(err as Error).message})`;
    }
    const match = /^(0x[0-9a-f]+): (\d+)$/m.exec(text);
    return match === null ? text.trim() : { zxid: BigInt(match[1]!), digest: BigInt(match[2]!) };
  }

  async close(): Promise<void> {
    if (this.process.state !== 'stopped') await this.process.kill().catch(() => undefined);
    await this.proxy.close();
    for (const reservation of Object.values(this.ports)) reservation.close();
    await this.process.log.close();
  }
}

/** The member with this id; a RangeError naming the ids there are when none has it. */
export function memberById(members: readonly Member[], id: number): Member {
  const m = members.find((x) => x.id === id);
  if (m === undefined) throw new RangeError(`no server ${id}; the servers are ${members.map((x) => x.id).join(', ')}`);
  return m;
}

export { MemberStartError };

/**
 * Starts `process` on ports reserved for it (`listening`: those it listens on); where the
 * platform will not let a member bind a reserved port, their reservations step aside until it exits.
 */
export async function startOnReservedPorts(process: MemberProcess, listening: readonly PortReservation[]): Promise<void> {
  if (!(await portsShareable())) {
    for (const reservation of listening) reservation.release();
    process.once('exit', () => void Promise.all(listening.map((reservation) => reservation.renew())));
  }
  await process.start();
}

const launchAttemptsMax = 3;

/**
 * Runs a whole launch again, on new ports, when a member found its port taken: by a process
 * that learned the number before it was reserved (from a bind to port 0 it then closed) and
 * listened on it after, or, where reserved ports cannot be shared, by anyone (see ports.ts).
 */
export async function withPortRetries<T>(launch: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch();
    } catch (error) {
      const portTaken = error instanceof MemberStartError && error.code === 'EADDRINUSE';
      if (!portTaken || attempt >= launchAttemptsMax) throw error;
    }
  }
}
