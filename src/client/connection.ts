import { ErrorCode, OpCode, Xid } from '../protocol/constants.js';
import { JuteReader, JuteWriter } from '../protocol/jute.js';
import { ConnectRequestCodec, ConnectResponseCodec, ReplyHeaderCodec, WatcherEventCodec, type WatcherEvent } from '../protocol/records.js';
import type { HostPort } from './connect-string.js';
import { Credentials } from './credentials.js';
import { zkError } from './errors.js';
import { HostCycle } from './host-cycle.js';
import { RequestQueue, type Request, type RequestSink } from './request-queue.js';
import { ServerLink } from './server-link.js';
import { setWatchesRequests, type WatchPaths } from './set-watches.js';
import type { ClientLogger, ClientStateName, ClientTlsOptions } from './types.js';

/** What the connection tells its owner. */
export interface ConnectionHooks {
  state(state: ClientStateName, reason: string | undefined): void;
  notification(event: WatcherEvent, zxid: bigint): void;
  /** Server paths of every watch to re-register after a reconnect. */
  watchPaths(): WatchPaths;
}

export interface ConnectionSettings {
  hosts: HostPort[];
  sessionTimeout: number;
  sessionId: bigint;
  sessionPassword: Buffer;
  canBeReadOnly: boolean;
  reconnectDelayMin: number;
  reconnectDelayMax: number;
  maxFrameBytes: number;
  closeTimeout: number;
  tls: ClientTlsOptions | null;
  logger: ClientLogger;
}

type Terminal = 'EXPIRED' | 'AUTH_FAILED' | 'CLOSED';

const connectTimeoutMsMin = 250;

/**
 * One ZooKeeper session over a sequence of server links: the handshake, requests matched to
 * replies, reconnect with session resume, re-sent credentials and re-registered watches.
 * Requests are never retried: whatever is in flight when a link dies fails with CONNECTIONLOSS.
 */
export class Connection implements RequestSink {
  private state: ClientStateName | 'IDLE' = 'IDLE';
  private terminal: Terminal | null = null;
  private closing = false;
  private closeWaiters: (() => void)[] = [];

  sessionId: bigint;
  sessionPassword: Buffer;
  negotiatedTimeout = 0;
  lastZxidSeen = 0n;
  readOnly = false;
  currentServer: string | undefined;

  private link: ServerLink | null = null;
  /** A session is established on `link`. */
  private connected = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly hosts: HostCycle;
  private readonly requests = new RequestQueue();
  private readonly credentials = new Credentials();

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly hooks: ConnectionHooks,
  ) {
    this.sessionId = settings.sessionId;
    this.sessionPassword = settings.sessionPassword;
    this.hosts = new HostCycle(settings.hosts, settings.reconnectDelayMin, settings.reconnectDelayMax);
  }

  get isTerminal(): boolean {
    return this.terminal !== null;
  }

  start(): void {
    if (this.state !== 'IDLE') return;
    this.setState('CONNECTING');
    this.attempt();
  }

  submit(request: Request): void {
    if (this.terminal !== null || this.closing) {
      request.fail(this.terminalError());
      return;
    }
    this.start();
    if (this.connected) this.send(request);
    else this.requests.hold(request);
  }

  /** Remembers a credential for every future connection and sends it now if connected. */
  addAuth(scheme: string, auth: Buffer): Promise<void> {
    if (this.terminal !== null || this.closing) return Promise.reject(this.terminalError());
    const done = this.credentials.add(scheme, auth, this.connected ? this.writer() : null);
    this.start();
    return done;
  }

  close(): Promise<void> {
    if (this.terminal !== null) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    if (this.closing) return done;
    this.closing = true;
    this.clearReconnect();
    if (!this.connected) {
      this.finish('CLOSED', 'closed by the client');
      return done;
    }
    const closed = (): void => {
      clearTimeout(timer);
      this.finish('CLOSED', 'closed by the client');
    };
    const timer = setTimeout(() => this.finish('CLOSED', 'closeSession not acknowledged in time'), this.settings.closeTimeout);
    this.send({ opcode: OpCode.closeSession, write: () => undefined, handle: closed, fail: closed });
    return done;
  }

  // ---- connecting -------------------------------------------------------------------------

  private attempt(): void {
    this.reconnectTimer = null;
    if (this.terminal !== null || this.closing) return;
    const host = this.hosts.next();
    this.currentServer = `${host.host}:${host.port}`;
    if (this.state !== 'CONNECTING') this.setState('CONNECTING');
    const timeoutBase = this.negotiatedTimeout > 0 ? this.negotiatedTimeout : this.settings.sessionTimeout;
    const connectTimeout = Math.max(connectTimeoutMsMin, Math.floor(timeoutBase / this.settings.hosts.length));
    this.settings.logger.debug({ server: this.currentServer, session: hex(this.sessionId) }, 'connecting');
    const link: ServerLink = new ServerLink(host, this.settings, connectTimeout, {
      open: () => link.write(this.connectRequest()),
      frame: (body) => (this.connected ? this.onFrame(link, body) : this.onConnectResponse(link, body)),
      lost: (reason) => this.lost(link, reason),
    });
    this.link = link;
  }

  private connectRequest(): Buffer {
    const w = new JuteWriter(64);
    ConnectRequestCodec.write(w, {
      protocolVersion: 0,
      lastZxidSeen: this.lastZxidSeen,
      timeOut: this.settings.sessionTimeout,
      sessionId: this.sessionId,
      passwd: this.sessionPassword,
      readOnly: this.settings.canBeReadOnly,
    });
    return w.frame();
  }

  private onConnectResponse(link: ServerLink, body: Buffer): void {
    const response = ConnectResponseCodec.read(new JuteReader(body));
    if (response.timeOut <= 0) {
      this.finish('EXPIRED', `session 0x${hex(this.sessionId)} expired (refused by ${this.currentServer})`);
      return;
    }
    this.sessionId = response.sessionId;
    this.sessionPassword = response.passwd;
    this.negotiatedTimeout = response.timeOut;
    this.readOnly = response.readOnly === true;
    this.connected = true;
    this.hosts.connected();
    link.established(this.negotiatedTimeout);
    this.settings.logger.info(
      { server: this.currentServer, session: hex(this.sessionId), timeout: this.negotiatedTimeout, readOnly: this.readOnly },
      'session established',
    );
    // Java's order: credentials, then watches, then whatever the user queued meanwhile.
    this.credentials.sendAll(this.writer());
    for (const request of setWatchesRequests(this.hooks.watchPaths(), this.lastZxidSeen, this.settings.logger)) this.send(request);
    for (const request of this.requests.release()) this.send(request);
    this.setState(this.readOnly ? 'CONNECTED_READ_ONLY' : 'SYNC_CONNECTED');
  }

  private onFrame(link: ServerLink, body: Buffer): void {
    const reader = new JuteReader(body);
    const header = ReplyHeaderCodec.read(reader);
    if (header.xid === Xid.ping) return;
    if (header.xid === Xid.auth) {
      const error = this.credentials.reply(header.err);
      if (error?.code === ErrorCode.AUTHFAILED) this.finish('AUTH_FAILED', error.message);
      return;
    }
    if (header.xid === Xid.notification) {
      this.hooks.notification(WatcherEventCodec.read(reader), header.zxid);
      return;
    }
    const request = this.requests.answered(header.xid);
    if (request === undefined) {
      link.fail(`reply xid ${header.xid} out of order (expected ${this.requests.oldestXid ?? 'none'})`);
      return;
    }
    if (header.zxid > 0n) this.lastZxidSeen = header.zxid;
    request.handle(header, reader);
  }

  private send(request: Request): void {
    this.link?.write(this.requests.encode(request));
  }

  private writer(): (frame: Buffer) => void {
    return (frame) => this.link?.write(frame);
  }

  // ---- losing and ending -----------------------------------------------------------------

  /** The session's link is gone: fail what was riding on it and try the next host. */
  private lost(link: ServerLink, reason: string): void {
    if (link !== this.link) return;
    const wasConnected = this.connected;
    this.dropLink();
    this.failOutstanding(zkError(ErrorCode.CONNECTIONLOSS, undefined, `Connection loss (${reason})`));
    this.settings.logger.info({ server: this.currentServer, reason, wasConnected }, 'connection lost');
    if (this.closing) {
      this.finish('CLOSED', 'closed by the client');
      return;
    }
    if (this.terminal !== null) return;
    if (wasConnected) this.setState('DISCONNECTED', reason);
    this.reconnectTimer = setTimeout(() => this.attempt(), this.hosts.failed());
  }

  private dropLink(): void {
    this.connected = false;
    this.link?.close();
    this.link = null;
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private failOutstanding(error: Error): void {
    this.requests.failAll(error);
    this.credentials.failAll(error);
  }

  private finish(terminal: Terminal, reason: string): void {
    if (this.terminal !== null) return;
    this.terminal = terminal;
    this.clearReconnect();
    this.dropLink();
    this.failOutstanding(this.terminalError());
    this.setState(terminal, reason);
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }

  terminalError(): Error {
    switch (this.terminal) {
      case 'AUTH_FAILED':
        return zkError(ErrorCode.AUTHFAILED, undefined, 'Authentication failed; the client is stopped');
      case 'EXPIRED':
        return zkError(ErrorCode.SESSIONEXPIRED, undefined, 'Session expired; the client is stopped');
      default:
        return zkError(ErrorCode.SESSIONEXPIRED, undefined, 'Session closed; the client is closed');
    }
  }

  private setState(state: ClientStateName, reason?: string): void {
    if (this.state === state) return;
    this.state = state;
    this.hooks.state(state, reason);
  }
}

export function hex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}
