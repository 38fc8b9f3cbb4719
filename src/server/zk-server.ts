import { createServer, type Server, type Socket } from 'node:net';
import type { ServerConfig } from '../config/config.js';
import { DataTree, type ApplyResult } from '../data/data-tree.js';
import type { Txn } from '../data/txn.js';
import { WatchManager } from '../data/watch-manager.js';
import type { Logger } from '../logger.js';
import { hex } from '../logger.js';
import { OpCode } from '../protocol/constants.js';
import type { JuteReader } from '../protocol/jute.js';
import type { ConnectRequest, ConnectResponse, RequestHeader } from '../protocol/records.js';
import { passwordBytes, passwordMatches, sessionPassword } from '../session/password.js';
import { SessionIdGenerator } from '../session/session-id.js';
import { SessionTracker } from '../session/session-tracker.js';
import { StandaloneCommitter, submitWrite, volatileSink, type Committer, type TxnSink } from './committer.js';
import { ServerConnection, type ConnectionHost, type Job } from './connection.js';
import { runFourLetterWord, type ServerView } from './four-letter-words.js';
import { handleRequest, type RequestContext } from './requests.js';
import { ServerStats } from './stats.js';

export interface ZkServerOptions {
  config: ServerConfig;
  log: Logger;
  /** Server id (myid); a standalone server uses 1 in its session ids, as ZooKeeper does. */
  serverId?: number;
  /** Where txns become durable; omitted, writes are held in memory only. */
  sink?: TxnSink;
  /** The tree to start from (recovered from disk). */
  tree?: DataTree;
  /** Reaper scan interval for containers and TTL nodes. */
  containerCheckIntervalMs?: number;
  now?: () => number;
}

/** A sink that keeps nothing: for a server started without storage. */

/** Ms between container/TTL reaper scans (znode.container.checkIntervalMs). */
export const containerCheckIntervalMsDefault = 60_000;

/**
 * A standalone server: connection factory, sessions, the request pipeline and the
 * replicated-state database, wired to a committer that stamps, logs and applies writes.
 */
export class ZkServer implements ConnectionHost, RequestContext, ServerView {
  readonly config: ServerConfig;
  readonly log: Logger;
  tree: DataTree;
  readonly watches = new WatchManager();
  readonly stats = new ServerStats();
  readonly connections = new Set<ServerConnection>();
  committer: Committer;
  readonly serverId: number;
  readonly frameBytesMax: number;
  readonly connectTimeoutMs: number;
  protected readonly now: () => number;
  protected readonly tracker: SessionTracker;
  private readonly ids: SessionIdGenerator;
  protected readonly sessionConnections = new Map<bigint, ServerConnection>();
  private readonly perIp = new Map<string, number>();
  private readonly syncWaiters: { zxid: bigint; resolve: () => void }[] = [];
  private server: Server | null = null;
  protected timers: NodeJS.Timeout[] = [];
  /** Whether this server answers clients (standalone: once started; ensemble: while in a serving role). */
  serving = false;

  constructor(options: ZkServerOptions) {
    this.config = options.config;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.serverId = options.serverId ?? 1;
    this.frameBytesMax = this.config.juteMaxBuffer;
    this.connectTimeoutMs = this.config.connectTimeoutMs;
    this.tree = options.tree ?? new DataTree({ extendedTypesEnabled: this.config.extendedTypesEnabled });
    this.tracker = new SessionTracker(this.config.tickTime, this.now());
    this.ids = new SessionIdGenerator(this.serverId, this.now());
    for (const [id, entry] of this.tree.sessions) this.tracker.add(id, entry.timeout, this.now());
    this.committer = new StandaloneCommitter(this.tree.lastZxid, options.sink ?? volatileSink(), (txn) => this.applyTxn(txn), this.now);
    this.containerCheckIntervalMs = options.containerCheckIntervalMs ?? containerCheckIntervalMsDefault;
  }

  private readonly containerCheckIntervalMs: number;

  get outstanding(): number {
    return this.committer.outstanding;
  }

  get port(): number {
    const addr = this.server?.address();
    return addr !== null && typeof addr === 'object' ? addr.port : this.config.clientPort;
  }

  async start(): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.clientPort, this.config.clientPortAddress, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'client port error'));
    this.serving = this.servesOnStart();
    this.timers.push(setInterval(() => this.expireSessions(), this.config.tickTime));
    this.timers.push(setInterval(() => this.reap(), this.containerCheckIntervalMs));
    for (const t of this.timers) t.unref();
    this.log.info({ port: this.port, address: this.config.clientPortAddress, zxid: hex(this.tree.lastZxid) }, 'serving clients');
  }

  /** Standalone serves as soon as it listens; an ensemble member once its role is ready. */
  protected servesOnStart(): boolean {
    return true;
  }

  /** Closes every client connection (this server stopped serving; clients go elsewhere). */
  closeAllConnections(reason: string): void {
    for (const c of [...this.connections]) c.close(reason);
  }

  async stop(): Promise<void> {
    this.serving = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const c of [...this.connections]) c.close('server stopping');
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const count = this.perIp.get(ip) ?? 0;
    if (this.config.maxClientCnxns > 0 && count >= this.config.maxClientCnxns) {
      this.stats.refusedConnections++;
      this.log.warn({ peer: ip, limit: this.config.maxClientCnxns }, 'too many connections from this address; refusing');
      socket.destroy();
      return;
    }
    this.perIp.set(ip, count + 1);
    const conn = new ServerConnection(socket, this);
    this.connections.add(conn);
  }

  // ---- ConnectionHost -------------------------------------------------------------

  fourLetterWord(word: string): string | null {
    return runFourLetterWord(word, this);
  }

  closed(conn: ServerConnection): void {
    if (!this.connections.delete(conn)) return;
    const n = (this.perIp.get(conn.remoteAddress) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(conn.remoteAddress);
    else this.perIp.set(conn.remoteAddress, n);
    this.watches.removeWatcher(conn);
    if (conn.sessionId !== 0n && this.sessionConnections.get(conn.sessionId) === conn) this.sessionConnections.delete(conn.sessionId);
  }

  countReceived(): void {
    this.stats.packetsReceived++;
  }

  countSent(latencyMs: number | null): void {
    this.stats.packetsSent++;
    if (latencyMs !== null) this.stats.recordLatency(latencyMs);
  }

  private negotiateTimeout(requested: number): number {
    return Math.min(Math.max(requested, this.config.minSessionTimeout), this.config.maxSessionTimeout);
  }

  private invalidSession(request: ConnectRequest): ConnectResponse {
    return { protocolVersion: 0, timeOut: 0, sessionId: 0n, passwd: Buffer.alloc(passwordBytes), readOnly: request.readOnly === undefined ? undefined : false };
  }

  async handshake(conn: ServerConnection, request: ConnectRequest): Promise<ConnectResponse | null> {
    if (!this.serving) return null;
    if (request.lastZxidSeen > this.tree.lastZxid) {
      conn.log.info({ clientZxid: hex(request.lastZxidSeen), ourZxid: hex(this.tree.lastZxid) }, 'client has seen a later zxid than this server; refusing');
      return null;
    }
    const timeOut = this.negotiateTimeout(request.timeOut);
    const readOnly = request.readOnly === undefined ? undefined : false;
    if (request.sessionId === 0n) return this.createSession(conn, timeOut, readOnly);
    const previous = this.sessionConnections.get(request.sessionId);
    if (previous !== undefined && previous !== conn) previous.close('session moved to another connection');
    if (!passwordMatches(request.sessionId, request.passwd)) {
      conn.log.info({ session: hex(request.sessionId) }, 'wrong password for session');
      return this.invalidSession(request);
    }
    if (!(await this.revalidate(request.sessionId, timeOut)) || !conn.isOpen) {
      conn.log.info({ session: hex(request.sessionId) }, 'session expired or unknown');
      return this.invalidSession(request);
    }
    this.bind(conn, request.sessionId, timeOut);
    conn.log.debug({ session: hex(request.sessionId), timeOut }, 'session resumed');
    return { protocolVersion: 0, timeOut, sessionId: request.sessionId, passwd: sessionPassword(request.sessionId), readOnly };
  }

  /** Is the session alive? Standalone: ask our own tracker (and touch it). */
  protected async revalidate(sessionId: bigint, timeOut: number): Promise<boolean> {
    if (!this.tree.sessions.has(sessionId) || this.tracker.isClosing(sessionId)) return false;
    this.tracker.add(sessionId, timeOut, this.now());
    return true;
  }

  private async createSession(conn: ServerConnection, timeOut: number, readOnly: boolean | undefined): Promise<ConnectResponse | null> {
    const sessionId = this.ids.nextId();
    this.tracker.add(sessionId, timeOut, this.now());
    try {
      await submitWrite(this.committer, { sessionId, cxid: 0, authIds: [], op: { type: OpCode.createSession, timeout: timeOut } });
    } catch (err) {
      conn.log.info({ reason: (err as Error).message }, 'session could not be created');
      return null;
    }
    if (!conn.isOpen) return null;
    this.bind(conn, sessionId, timeOut);
    conn.log.debug({ session: hex(sessionId), timeOut }, 'session created');
    return { protocolVersion: 0, timeOut, sessionId, passwd: sessionPassword(sessionId), readOnly };
  }

  private bind(conn: ServerConnection, sessionId: bigint, timeOut: number): void {
    conn.sessionId = sessionId;
    conn.sessionTimeout = timeOut;
    this.sessionConnections.set(sessionId, conn);
  }

  request(conn: ServerConnection, header: RequestHeader, body: JuteReader): Job {
    return handleRequest(this, conn, header, body);
  }

  // ---- RequestContext ------------------------------------------------------------

  get superDigest(): string | null {
    return this.config.superDigest;
  }

  touchSession(conn: ServerConnection): void {
    this.tracker.touch(conn.sessionId, this.now());
  }

  /** Whether this server decides session expiry (standalone, or the leader). */
  protected tracksExpiry(): boolean {
    return true;
  }

  sessionIsLive(sessionId: bigint): boolean {
    return this.tree.sessions.has(sessionId) && !this.tracker.isClosing(sessionId);
  }

  sync(): Promise<void> {
    const target = this.committer.lastZxid;
    if (this.tree.lastZxid >= target) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push({ zxid: target, resolve }));
  }

  // ---- applying committed txns ----------------------------------------------------

  /** Applies a committed txn here: tree, then watches, then session bookkeeping. */
  applyTxn(txn: Txn): ApplyResult {
    const result = this.tree.apply(txn);
    for (const change of result.changes) this.watches.trigger(change);
    if (txn.op.type === OpCode.createSession) this.tracker.add(txn.sessionId, txn.op.timeout, this.now());
    if (txn.op.type === OpCode.closeSession) this.sessionClosed(txn.sessionId);
    for (let i = 0; i < this.syncWaiters.length; ) {
      if (this.syncWaiters[i]!.zxid <= txn.zxid) this.syncWaiters.splice(i, 1)[0]!.resolve();
      else i++;
    }
    return result;
  }

  /** The session is gone everywhere: its connection here closes, unless it asked for this. */
  private sessionClosed(sessionId: bigint): void {
    this.tracker.remove(sessionId);
    const conn = this.sessionConnections.get(sessionId);
    if (conn === undefined || conn.closeRequested) return;
    this.sessionConnections.delete(sessionId);
    conn.close('session expired');
  }

  private expireSessions(): void {
    if (!this.tracksExpiry() || !this.serving) return;
    for (const sessionId of this.tracker.expire(this.now())) {
      if (!this.tree.sessions.has(sessionId)) {
        this.tracker.remove(sessionId);
        continue;
      }
      this.log.info({ session: hex(sessionId) }, 'session expired');
      void submitWrite(this.committer, { sessionId, cxid: 0, authIds: [], op: { type: OpCode.closeSession } }).catch((err) => {
        this.log.error({ err, session: hex(sessionId) }, 'closing an expired session failed');
      });
    }
  }

  private reap(): void {
    if (!this.tracksExpiry() || !this.serving) return;
    const due = this.tree.reapCandidates(this.now(), (node) => node.cversion > 0);
    for (const path of due) {
      void submitWrite(this.committer, { sessionId: 0n, cxid: 0, authIds: [], op: { type: OpCode.deleteContainer, request: { path } } }).catch((err) => this.log.error({ err, path }, 'reaping failed'));
    }
  }

  // ---- ServerView -----------------------------------------------------------------

  mode(): string {
    return 'standalone';
  }

  lastZxid(): bigint {
    return this.tree.lastZxid;
  }

  sessionIds(): bigint[] {
    return [...this.tree.sessions.keys()];
  }

  sessionTimeout(id: bigint): number | undefined {
    return this.tree.sessions.get(id)?.timeout;
  }

  roleMetrics(): [string, string | number][] {
    return [];
  }

  resetStats(): void {
    this.stats.reset();
  }
}
