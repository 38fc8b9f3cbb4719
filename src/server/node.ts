import type { Socket } from 'node:net';
import type { ServerConfig } from '../config/config.js';
import type { DataTree } from '../data/data-tree.js';
import type { WatchManager } from '../data/watch-manager.js';
import { hex, type Logger } from '../logger.js';
import { OpCode } from '../protocol/constants.js';
import type { JuteReader } from '../protocol/jute.js';
import type { ConnectRequest, ConnectResponse, Id, RequestHeader } from '../protocol/records.js';
import type { SessionService } from '../session/session-service.js';
import type { ApplyStage } from './apply-stage.js';
import { ClientPort, clientPortSpecs } from './client-port.js';
import { submitWrite, type Committer } from './committer.js';
import { ServerConnection, type ConnectionHost, type Job } from './connection.js';
import { runFourLetterWord, type ServerView } from './four-letter-words.js';
import { OutstandingLimit } from './outstanding-limit.js';
import type { Replication } from './replication.js';
import { handleRequest, type RequestContext } from './requests.js';
import { ServerStats } from './stats.js';

/** Ms between container/TTL reaper scans (znode.container.checkIntervalMs). */
export const containerCheckIntervalMsDefault = 60_000;

export interface ServerNodeOptions {
  config: ServerConfig;
  log: Logger;
  serverId: number;
  apply: ApplyStage;
  sessions: SessionService;
  replication: Replication;
  /** Reaper scan interval for containers and TTL nodes. */
  containerCheckIntervalMs?: number;
  now?: () => number;
}

/**
 * One zkts server, composed of its parts: the client ports (listen, limits), the connections
 * they accept, the session service, the apply stage, and a replication (standalone, or the
 * consensus driver of an ensemble member). It routes what connections ask to the part that
 * answers it, and owns the timers of the session clock and the container reaper.
 */
export class ServerNode implements ConnectionHost, RequestContext, ServerView {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly serverId: number;
  readonly stats = new ServerStats();
  readonly connections = new Set<ServerConnection>();
  /** globalOutstandingLimit, shared by every connection. */
  readonly requestLimit: OutstandingLimit;
  readonly ports: readonly ClientPort[];
  readonly frameBytesMax: number;
  readonly connectTimeoutMs: number;
  readonly sessions: SessionService;
  /** How writes are ordered and made durable here: standalone, or the consensus driver. */
  readonly replication: Replication;
  private readonly apply: ApplyStage;
  private readonly containerCheckIntervalMs: number;
  private readonly now: () => number;
  private timers: NodeJS.Timeout[] = [];
  private servedLast = false;

  constructor(options: ServerNodeOptions) {
    this.config = options.config;
    this.log = options.log;
    this.serverId = options.serverId;
    this.apply = options.apply;
    this.sessions = options.sessions;
    this.replication = options.replication;
    this.containerCheckIntervalMs = options.containerCheckIntervalMs ?? containerCheckIntervalMsDefault;
    this.now = options.now ?? Date.now;
    this.frameBytesMax = this.config.juteMaxBuffer;
    this.connectTimeoutMs = this.config.connectTimeoutMs;
    this.requestLimit = new OutstandingLimit(this.config.globalOutstandingLimit);
    this.ports = clientPortSpecs(this.config).map(
      (spec) => new ClientPort(spec, this.log, (socket, ids) => this.accept(socket, ids), () => this.stats.refusedConnections++),
    );
  }

  get tree(): DataTree {
    return this.apply.tree;
  }

  get watches(): WatchManager {
    return this.apply.watches;
  }

  get committer(): Committer {
    return this.replication.committer;
  }

  get serving(): boolean {
    return this.replication.serving;
  }

  /** The client port bound (the first listener's: clientPort, or secureClientPort alone). */
  get port(): number {
    return this.ports[0]!.port;
  }

  /** The secure client port bound; null without secureClientPort. */
  get securePort(): number | null {
    return this.ports.find((p) => p.spec.tls !== null)?.port ?? null;
  }

  /** Requests held now, on every connection (what globalOutstandingLimit counts). */
  get outstanding(): number {
    return this.requestLimit.count;
  }

  /** Binds every port and begins; nothing stays bound when a port cannot be had. */
  async start(): Promise<void> {
    await this.bind();
    this.begin();
  }

  /** Binds the client ports and the replication's ports, all or none (a StartupError names the one that failed). */
  async bind(): Promise<void> {
    try {
      for (const port of this.ports) await port.listen();
      await this.replication.bind();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Starts serving (standalone) or joining the ensemble, and the session and reaper clocks. */
  begin(): void {
    this.replication.begin();
    this.timers.push(setInterval(() => this.expireSessions(), this.config.tickTime));
    this.timers.push(setInterval(() => this.reap(), this.containerCheckIntervalMs));
    for (const t of this.timers) t.unref();
    for (const port of this.ports) this.log.info({ port: port.port, address: port.spec.address, listener: port.spec.key, zxid: hex(this.tree.lastZxid) }, 'serving clients');
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.closeAllConnections('server stopping');
    await Promise.all(this.ports.map((port) => port.close()));
    await this.replication.stop();
  }

  /** Closes every client connection (this server stopped serving; clients go elsewhere). */
  closeAllConnections(reason: string): void {
    for (const c of [...this.connections]) c.close(reason);
  }

  /** The replication's readiness changed: a member that stops serving sends its clients elsewhere. */
  servingChanged(serving: boolean): void {
    const was = this.servedLast;
    this.servedLast = serving;
    if (was && !serving) this.closeAllConnections('server lost its quorum');
  }

  private accept(socket: Socket, ids: readonly Id[]): void {
    this.connections.add(new ServerConnection(socket, this, ids));
  }

  // ---- ConnectionHost -------------------------------------------------------------------

  fourLetterWord(word: string): string | null {
    this.replication.beforeClientWork();
    return runFourLetterWord(word, this);
  }

  handshake(conn: ServerConnection, request: ConnectRequest): Promise<ConnectResponse | null> {
    this.replication.beforeClientWork();
    if (!this.serving) return Promise.resolve(null);
    return this.sessions.handshake(conn, request);
  }

  request(conn: ServerConnection, header: RequestHeader, body: JuteReader): Job {
    this.replication.beforeClientWork();
    // Lost its role between the request's arrival and now: the client goes elsewhere.
    if (!this.serving) return { write: false, start: () => ({ frame: null, close: 'server is not serving' }) };
    return handleRequest(this, conn, header, body);
  }

  closed(conn: ServerConnection): void {
    if (!this.connections.delete(conn)) return;
    this.apply.watches.removeWatcher(conn);
    this.sessions.release(conn);
  }

  countReceived(): void {
    this.stats.packetsReceived++;
  }

  countSent(latencyMs: number | null): void {
    this.stats.packetsSent++;
    if (latencyMs !== null) this.stats.recordLatency(latencyMs);
  }

  // ---- RequestContext -------------------------------------------------------------------

  get superDigest(): string | null {
    return this.config.superDigest;
  }

  touchSession(conn: ServerConnection): void {
    this.sessions.touch(conn);
  }

  sessionIsLive(sessionId: bigint): boolean {
    return this.sessions.isLive(sessionId);
  }

  sessionCloseRequested(sessionId: bigint): void {
    this.sessions.closeRequested(sessionId);
  }

  sync(): Promise<void> {
    return this.replication.committer.sync();
  }

  // ---- ServerView -----------------------------------------------------------------------

  mode(): string {
    return this.replication.mode();
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
    return this.replication.roleMetrics();
  }

  resetStats(): void {
    this.stats.reset();
  }

  // ---- the clocks of whoever decides (standalone, or the leader) ---------------------------

  private expireSessions(): void {
    if (this.serving) this.sessions.clock();
  }

  private reap(): void {
    if (!this.serving || !this.sessions.authority.decides) return;
    for (const path of this.tree.reapCandidates(this.now(), (node) => node.cversion > 0)) {
      submitWrite(this.committer, { sessionId: 0n, cxid: 0, authIds: [], op: { type: OpCode.deleteContainer, request: { path } } }).catch((err) =>
        this.log.error({ err, path }, 'reaping failed'),
      );
    }
  }
}
