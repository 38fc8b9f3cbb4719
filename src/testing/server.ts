import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TcpProxy } from '../faults/tcp-proxy.js';
import { memberSettings, type TestingClusterOptions, type WaitOptions } from './cluster.js';
import { expireSession, type SessionIdLike } from './kill-session.js';
import { memberStartTimeoutMs } from './member-process.js';
import { Member, withPortRetries, type ServerInfo } from './member.js';
import { waitFor } from './wait.js';

export type TestingServerOptions = Omit<TestingClusterOptions, 'size' | 'observers' | 'proxyPorts'> & {
  /** The port of the fault proxy clients connect to (0: from the OS). */
  proxyPort?: number;
};

/**
 * One standalone `zkts server` process for tests, behind a fault proxy, on a temporary
 * directory removed on close (unless `dir` is given).
 */
export class TestingServer implements AsyncDisposable {
  private closed = false;

  private constructor(
    private readonly member: Member,
    readonly dir: string,
    private readonly ownsDir: boolean,
  ) {}

  static async start(options: TestingServerOptions = {}): Promise<TestingServer> {
    return withPortRetries(() => TestingServer.startOnce(options));
  }

  private static async startOnce(options: TestingServerOptions): Promise<TestingServer> {
    const settings = memberSettings(options);
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'zkts-server-')));
    let member: Member | null = null;
    try {
      member = await Member.create({ id: 1, role: 'standalone', dir, proxyPort: options.proxyPort ?? 0, settings, seed: options.seed ?? Math.floor(Math.random() * 0x1_0000_0000), peerFaults: () => [] });
      await member.writeConfig(settings, []);
      const server = new TestingServer(member, dir, ownsDir);
      await server.start({ timeoutMs: options.startTimeoutMs });
      return server;
    } catch (error) {
      await member?.close();
      if (ownsDir) await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Through the fault proxy: what clients should use. */
  get connectString(): string {
    return this.member.proxy.connectString;
  }

  /** The server's own client port, past the proxy. */
  get directConnectString(): string {
    return this.member.directConnectString;
  }

  /** The TLS client port through the fault proxy; null without the `tls` option. */
  get secureConnectString(): string | null {
    return this.member.secureConnectString;
  }

  /** The server's own TLS client port, past the proxy; null without the `tls` option. */
  get directSecureConnectString(): string | null {
    return this.member.directSecureConnectString;
  }

  get port(): number {
    return this.member.proxy.port;
  }

  get directPort(): number {
    return this.member.clientPort;
  }

  get dataDir(): string {
    return this.member.dataDir;
  }

  get configPath(): string {
    return this.member.configPath;
  }

  get info(): ServerInfo {
    return this.member.info();
  }

  /** The fault proxy in front of the server's client ports (plain and TLS): latency, bandwidth, drop, blackhole, reset, cut, heal. */
  get net(): TcpProxy {
    return this.member.proxy;
  }

  /** The last lines the server wrote (all of them are in info.logFile). */
  logTail(lines = 40): string {
    return this.member.process.log.tail(lines);
  }

  /** Starts the stopped server on its data and port; resolves once it serves. */
  async start(options: WaitOptions = {}): Promise<void> {
    await this.member.start();
    await waitFor('the server to serve', async () => (await this.member.observe())?.mode === 'standalone', { timeoutMs: options.timeoutMs ?? memberStartTimeoutMs, intervalMs: 20 });
  }

  /** SIGTERM (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    await this.member.process.stop();
  }

  /** SIGKILL. */
  async kill(): Promise<void> {
    await this.member.process.kill();
  }

  async restart(options: WaitOptions = {}): Promise<void> {
    await this.stop();
    await this.start(options);
  }

  /** SIGSTOP; resolves once the process is stopped. */
  async pause(): Promise<void> {
    this.member.process.pause();
    await this.member.process.settled();
  }

  /** SIGCONT; resolves once the process runs again. */
  async resume(): Promise<void> {
    this.member.process.resume();
    await this.member.process.settled();
  }

  /** Expires a session (see TestingCluster.expireSession). */
  async expireSession(sessionId: SessionIdLike): Promise<void> {
    await expireSession([this.member.directConnectString], sessionId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.member.close();
    if (this.ownsDir && process.env.ZKTS_KEEP_CLUSTER_DIRS === undefined) await rm(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
