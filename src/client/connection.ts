import net from 'node:net';
import tls from 'node:tls';
import { ErrorCode, OpCode, Xid } from '../protocol/constants.js';
import { FrameDecoder } from '../protocol/framing.js';
import { JuteReader, JuteWriter } from '../protocol/jute.js';
import {
  AuthPacketCodec,
  ConnectRequestCodec,
  ConnectResponseCodec,
  ReplyHeaderCodec,
  RequestHeaderCodec,
  SetWatches2Codec,
  SetWatchesCodec,
  WatcherEventCodec,
  type ReplyHeader,
  type SetWatches,
  type WatcherEvent,
} from '../protocol/records.js';
import type { HostPort } from './connect-string.js';
import { zkError } from './errors.js';
import type { ClientLogger, ClientStateName, ClientTlsOptions } from './types.js';

/** One request on its way: the body writer and what to do with the reply. */
export interface Request {
  opcode: number;
  write: (w: JuteWriter) => void;
  /** Called with the reply (any err); settles the caller's promise. Must not throw. */
  handle: (header: ReplyHeader, reader: JuteReader) => void;
  /** Called instead of handle when the request will never get a reply. */
  fail: (err: Error) => void;
  xid?: number;
}

export interface WatchPaths {
  data: string[];
  exist: string[];
  child: string[];
  persistent: string[];
  persistentRecursive: string[];
}

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

interface AuthCredential {
  scheme: string;
  auth: Buffer;
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

type Terminal = 'EXPIRED' | 'AUTH_FAILED' | 'CLOSED';

/** Java's SetWatches batch limit: about 128 KB of path text per packet. */
const setWatchesBytesMax = 128 * 1024;
/** Java pings at least this often, whatever the session timeout. */
const pingIntervalMsMax = 10_000;
const connectTimeoutMsMin = 250;
const xidMax = 0x7fffffff;

/**
 * One ZooKeeper session over a sequence of TCP connections: handshake, pipelined requests
 * matched to replies by xid in order, pings, read timeout, reconnect with session resume,
 * re-sent credentials and re-registered watches. Requests are never retried: whatever is in
 * flight when a connection dies fails with CONNECTIONLOSS.
 */
export class Connection {
  private state: ClientStateName | 'IDLE' = 'IDLE';
  private terminal: Terminal | null = null;
  private closing = false;
  private closeWaiters: (() => void)[] = [];

  sessionId: bigint;
  sessionPassword: Buffer;
  negotiatedTimeout = 0;
  lastZxidSeen = 0n;
  readOnly = false;

  private hostIndex = 0;
  private failuresSinceConnected = 0;
  private reconnectDelay: number;
  currentServer: string | undefined;

  private socket: net.Socket | null = null;
  private decoder: FrameDecoder | null = null;
  private connected = false;
  private lastSend = 0;
  private lastRecv = 0;
  private connectTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;

  private nextXid = 1;
  private readonly queue: Request[] = [];
  private readonly inflight: Request[] = [];
  private readonly auths: AuthCredential[] = [];
  /** Auth replies come back on their own (xid -4), in the order the packets were sent. */
  private readonly authInflight: AuthCredential[] = [];

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly hooks: ConnectionHooks,
  ) {
    this.sessionId = settings.sessionId;
    this.sessionPassword = settings.sessionPassword;
    this.reconnectDelay = settings.reconnectDelayMin;
  }

  get currentState(): ClientStateName | 'IDLE' {
    return this.state;
  }

  get isConnected(): boolean {
    return this.connected;
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
    else this.queue.push(request);
  }

  /** Remembers a credential for every future connection and sends it now if connected. */
  addAuth(scheme: string, auth: Buffer): Promise<void> {
    if (this.terminal !== null || this.closing) return Promise.reject(this.terminalError());
    return new Promise((resolve, reject) => {
      const credential: AuthCredential = { scheme, auth, waiters: [{ resolve, reject }] };
      this.auths.push(credential);
      this.start();
      if (this.connected) this.sendAuth(credential);
    });
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
    const timer = setTimeout(() => this.finish('CLOSED', 'closeSession not acknowledged in time'), this.settings.closeTimeout);
    this.send({
      opcode: OpCode.closeSession,
      write: () => undefined,
      handle: () => {
        clearTimeout(timer);
        this.finish('CLOSED', 'closed by the client');
      },
      fail: () => {
        clearTimeout(timer);
        this.finish('CLOSED', 'closed by the client');
      },
    });
    return done;
  }

  // ---- connecting -------------------------------------------------------------------------

  private attempt(): void {
    this.reconnectTimer = null;
    if (this.terminal !== null || this.closing) return;
    const { hosts } = this.settings;
    const host = hosts[this.hostIndex % hosts.length]!;
    this.hostIndex = (this.hostIndex + 1) % hosts.length;
    this.currentServer = `${host.host}:${host.port}`;
    if (this.state !== 'CONNECTING') this.setState('CONNECTING');
    const timeoutBase = this.negotiatedTimeout > 0 ? this.negotiatedTimeout : this.settings.sessionTimeout;
    const connectTimeout = Math.max(connectTimeoutMsMin, Math.floor(timeoutBase / hosts.length));
    this.settings.logger.debug({ server: this.currentServer, session: hex(this.sessionId) }, 'connecting');

    const socket = this.open(host);
    socket.setNoDelay(true);
    this.socket = socket;
    this.decoder = new FrameDecoder(this.settings.maxFrameBytes);
    let reason: string | undefined;
    this.connectTimer = setTimeout(() => this.lost(socket, `no session from ${this.currentServer} within ${connectTimeout} ms`), connectTimeout);
    socket.on(this.settings.tls === null ? 'connect' : 'secureConnect', () => {
      if (socket !== this.socket) return;
      this.writeFrame(this.connectRequest());
    });
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (err) => {
      reason = err.message;
    });
    socket.on('close', () => this.lost(socket, reason ?? `${this.currentServer} closed the connection`));
  }

  private open(host: HostPort): net.Socket {
    const options = this.settings.tls;
    if (options === null) return net.connect({ host: host.host, port: host.port });
    // An IP address is checked against the certificate's IP names; SNI takes host names only.
    const servername = options.servername ?? (net.isIP(host.host) === 0 ? host.host : undefined);
    return tls.connect({ host: host.host, port: host.port, ...options, servername });
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

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket || this.decoder === null) return;
    this.lastRecv = Date.now();
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.lost(socket, (err as Error).message);
      return;
    }
    for (const body of frames) {
      if (socket !== this.socket) return;
      try {
        if (this.connected) this.onFrame(socket, body);
        else this.onConnectResponse(body);
      } catch (err) {
        this.lost(socket, `bad frame from server: ${(err as Error).message}`);
        return;
      }
    }
  }

  private onConnectResponse(body: Buffer): void {
    const response = ConnectResponseCodec.read(new JuteReader(body));
    this.clearConnectTimer();
    if (response.timeOut <= 0) {
      this.finish('EXPIRED', `session 0x${hex(this.sessionId)} expired (refused by ${this.currentServer})`);
      return;
    }
    this.sessionId = response.sessionId;
    this.sessionPassword = response.passwd;
    this.negotiatedTimeout = response.timeOut;
    this.readOnly = response.readOnly === true;
    this.connected = true;
    this.failuresSinceConnected = 0;
    this.reconnectDelay = this.settings.reconnectDelayMin;
    this.lastRecv = Date.now();
    this.startTicking();
    this.settings.logger.info(
      { server: this.currentServer, session: hex(this.sessionId), timeout: this.negotiatedTimeout, readOnly: this.readOnly },
      'session established',
    );
    // Java's order: credentials, then watches, then whatever the user queued meanwhile.
    for (const credential of this.auths) this.sendAuth(credential);
    this.sendSetWatches();
    const queued = this.queue.splice(0);
    for (const request of queued) this.send(request);
    this.setState(this.readOnly ? 'CONNECTED_READ_ONLY' : 'SYNC_CONNECTED');
  }

  private onFrame(socket: net.Socket, body: Buffer): void {
    const reader = new JuteReader(body);
    const header = ReplyHeaderCodec.read(reader);
    if (header.xid === Xid.ping) return;
    if (header.xid === Xid.auth) {
      this.onAuthReply(header.err);
      return;
    }
    if (header.xid === Xid.notification) {
      this.hooks.notification(WatcherEventCodec.read(reader), header.zxid);
      return;
    }
    const request = this.inflight[0];
    if (request === undefined || request.xid !== header.xid) {
      this.lost(socket, `reply xid ${header.xid} out of order (expected ${request?.xid ?? 'none'})`);
      return;
    }
    this.inflight.shift();
    if (header.zxid > 0n) this.lastZxidSeen = header.zxid;
    request.handle(header, reader);
  }

  private onAuthReply(err: number): void {
    const credential = this.authInflight.shift();
    const waiters = credential?.waiters.splice(0) ?? [];
    if (err === ErrorCode.OK) {
      for (const w of waiters) w.resolve();
      return;
    }
    const error = zkError(err, undefined, `Authentication failed for scheme '${credential?.scheme ?? '?'}'`);
    for (const w of waiters) w.reject(error);
    if (err === ErrorCode.AUTHFAILED) this.finish('AUTH_FAILED', error.message);
  }

  // ---- sending ----------------------------------------------------------------------------

  private send(request: Request): void {
    const xid = this.nextXid;
    this.nextXid = xid >= xidMax ? 1 : xid + 1;
    request.xid = xid;
    const w = new JuteWriter();
    RequestHeaderCodec.write(w, { xid, type: request.opcode });
    request.write(w);
    this.inflight.push(request);
    this.writeFrame(w.frame());
  }

  private sendAuth(credential: AuthCredential): void {
    const w = new JuteWriter();
    RequestHeaderCodec.write(w, { xid: Xid.auth, type: OpCode.auth });
    AuthPacketCodec.write(w, { type: 0, scheme: credential.scheme, auth: credential.auth });
    this.authInflight.push(credential);
    this.writeFrame(w.frame());
  }

  private sendSetWatches(): void {
    const paths = this.hooks.watchPaths();
    const withPersistent = paths.persistent.length > 0 || paths.persistentRecursive.length > 0;
    const opcode = withPersistent ? OpCode.setWatches2 : OpCode.setWatches;
    const codec = withPersistent ? SetWatches2Codec : SetWatchesCodec;
    for (const batch of setWatchesBatches(paths, this.lastZxidSeen)) {
      this.send({
        opcode,
        write: (w) => codec.write(w, batch),
        handle: (header) => {
          if (header.err !== 0) this.settings.logger.warn({ err: header.err }, 'setWatches refused');
        },
        fail: () => undefined,
      });
    }
  }

  /**
   * Requests made in one go (a burst of calls, or many callers answered by one read) leave in
   * one writev: the socket stays corked until the current batch of callbacks is done. With
   * thousands of requests in flight a write per request cost the client four times the CPU
   * of the requests themselves and woke the server once per request.
   */
  private writeFrame(bytes: Buffer): void {
    const socket = this.socket;
    if (socket === null) return;
    this.lastSend = Date.now();
    if (this.corkedSocket !== socket) {
      this.corkedSocket = socket;
      socket.cork();
      process.nextTick(() => {
        this.corkedSocket = null;
        socket.uncork();
      });
    }
    socket.write(bytes);
  }

  private corkedSocket: net.Socket | null = null;

  // ---- timers ----------------------------------------------------------------------------

  private startTicking(): void {
    this.stopTicking();
    const period = Math.max(10, Math.floor(this.negotiatedTimeout / 10));
    this.tickTimer = setInterval(() => this.tick(), period);
  }

  private tick(): void {
    const socket = this.socket;
    if (socket === null || !this.connected) return;
    const now = Date.now();
    const readTimeout = Math.floor((this.negotiatedTimeout * 2) / 3);
    if (now - this.lastRecv > readTimeout) {
      this.lost(socket, `nothing heard from ${this.currentServer} for ${now - this.lastRecv} ms`);
      return;
    }
    const pingInterval = Math.min(Math.floor(this.negotiatedTimeout / 3), pingIntervalMsMax);
    if (now - this.lastSend >= pingInterval) {
      const w = new JuteWriter(16);
      RequestHeaderCodec.write(w, { xid: Xid.ping, type: OpCode.ping });
      this.writeFrame(w.frame());
    }
  }

  private stopTicking(): void {
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.tickTimer = null;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  // ---- losing and ending -----------------------------------------------------------------

  /** The connection through `socket` is gone; fail what was riding on it and try the next host. */
  private lost(socket: net.Socket, reason: string): void {
    if (socket !== this.socket) return;
    const wasConnected = this.connected;
    this.dropSocket();
    this.failOutstanding(zkError(ErrorCode.CONNECTIONLOSS, undefined, `Connection loss (${reason})`));
    this.settings.logger.info({ server: this.currentServer, reason, wasConnected }, 'connection lost');
    if (this.closing) {
      this.finish('CLOSED', 'closed by the client');
      return;
    }
    if (this.terminal !== null) return;
    if (wasConnected) this.setState('DISCONNECTED', reason);
    this.failuresSinceConnected++;
    const roundDone = this.failuresSinceConnected % this.settings.hosts.length === 0;
    const delay = roundDone ? this.nextBackoff() : 0;
    this.reconnectTimer = setTimeout(() => this.attempt(), delay);
  }

  private nextBackoff(): number {
    const base = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.settings.reconnectDelayMax, this.reconnectDelay * 2);
    return Math.floor(base / 2 + Math.random() * (base / 2));
  }

  private dropSocket(): void {
    this.clearConnectTimer();
    this.stopTicking();
    this.connected = false;
    const socket = this.socket;
    this.socket = null;
    this.decoder = null;
    socket?.destroy();
  }

  private failOutstanding(error: Error): void {
    const requests = [...this.inflight.splice(0), ...this.queue.splice(0)];
    for (const request of requests) request.fail(error);
    this.authInflight.splice(0);
    for (const credential of this.auths) for (const w of credential.waiters.splice(0)) w.reject(error);
  }

  private finish(terminal: Terminal, reason: string): void {
    if (this.terminal !== null) return;
    this.terminal = terminal;
    this.clearReconnect();
    this.dropSocket();
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

/** Splits the watch lists into SetWatches records of at most ~128 KB of path text each. */
export function setWatchesBatches(paths: WatchPaths, relativeZxid: bigint): SetWatches[] {
  const batches: SetWatches[] = [];
  const fresh = (): SetWatches => ({
    relativeZxid,
    dataWatches: [],
    existWatches: [],
    childWatches: [],
    persistentWatches: [],
    persistentRecursiveWatches: [],
  });
  let current = fresh();
  let bytes = 0;
  let count = 0;
  const lists: [string[], keyof SetWatches][] = [
    [paths.data, 'dataWatches'],
    [paths.exist, 'existWatches'],
    [paths.child, 'childWatches'],
    [paths.persistent, 'persistentWatches'],
    [paths.persistentRecursive, 'persistentRecursiveWatches'],
  ];
  for (const [list, field] of lists) {
    for (const path of list) {
      (current[field] as string[]).push(path);
      bytes += Buffer.byteLength(path);
      count++;
      if (bytes > setWatchesBytesMax) {
        batches.push(current);
        current = fresh();
        bytes = 0;
        count = 0;
      }
    }
  }
  if (count > 0) batches.push(current);
  return batches;
}

export function hex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}
