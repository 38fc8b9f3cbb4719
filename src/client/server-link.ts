import net from 'node:net';
import tls from 'node:tls';
import { OpCode, Xid } from '../protocol/constants.js';
import { FrameDecoder } from '../protocol/framing.js';
import { JuteWriter } from '../protocol/jute.js';
import { RequestHeaderCodec } from '../protocol/records.js';
import type { HostPort } from './connect-string.js';
import type { ClientTlsOptions } from './types.js';

/** Java pings at least this often, whatever the session timeout. */
const pingIntervalMsMax = 10_000;

export interface LinkSettings {
  maxFrameBytes: number;
  tls: ClientTlsOptions | null;
}

/** What a link tells the session that runs over it. */
export interface LinkHooks {
  /** The socket (and its TLS) is up: time for the ConnectRequest. */
  open(): void;
  /** One frame body; a throw ends the link as a bad frame. */
  frame(body: Buffer): void;
  /** The link is gone; called at most once, and never after close(). */
  lost(reason: string): void;
}

/**
 * One TCP or TLS connection to one server: frames in, corked frames out, a deadline for the
 * session to be established, then pings and the read timeout. Once lost or closed it is inert.
 */
export class ServerLink {
  readonly name: string;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private ended = false;
  private corked = false;
  private lastSend = 0;
  private lastRecv = 0;
  private connectTimer: NodeJS.Timeout | null;
  private tickTimer: NodeJS.Timeout | null = null;

  constructor(host: HostPort, settings: LinkSettings, connectTimeoutMs: number, private readonly hooks: LinkHooks) {
    this.name = `${host.host}:${host.port}`;
    this.decoder = new FrameDecoder(settings.maxFrameBytes);
    this.socket = open(host, settings.tls);
    this.socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.fail(`no session from ${this.name} within ${connectTimeoutMs} ms`), connectTimeoutMs);
    let reason: string | undefined;
    this.socket.on(settings.tls === null ? 'connect' : 'secureConnect', () => {
      if (!this.ended) this.hooks.open();
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => {
      reason = err.message;
    });
    this.socket.on('close', () => this.fail(reason ?? `${this.name} closed the connection`));
  }

  /** The session is up: from now on ping when idle and give up when the server falls silent. */
  established(sessionTimeoutMs: number): void {
    this.clearTimers();
    this.lastRecv = Date.now();
    const period = Math.max(10, Math.floor(sessionTimeoutMs / 10));
    this.tickTimer = setInterval(() => this.tick(sessionTimeoutMs), period);
  }

  /**
   * Requests made in one go (a burst of calls, or many callers answered by one read) leave in
   * one writev: the socket stays corked until the current batch of callbacks is done. With
   * thousands of requests in flight a write per request cost the client four times the CPU
   * of the requests themselves and woke the server once per request.
   */
  write(bytes: Buffer): void {
    if (this.ended) return;
    this.lastSend = Date.now();
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  /** Ends the link without telling the hooks. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimers();
    this.socket.destroy();
  }

  /** Ends the link and tells the hooks why. */
  fail(reason: string): void {
    if (this.ended) return;
    this.close();
    this.hooks.lost(reason);
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.lastRecv = Date.now();
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail((err as Error).message);
      return;
    }
    for (const body of frames) {
      if (this.ended) return;
      try {
        this.hooks.frame(body);
      } catch (err) {
        this.fail(`bad frame from server: ${(err as Error).message}`);
        return;
      }
    }
  }

  private tick(sessionTimeoutMs: number): void {
    const now = Date.now();
    const readTimeout = Math.floor((sessionTimeoutMs * 2) / 3);
    if (now - this.lastRecv > readTimeout) {
      this.fail(`nothing heard from ${this.name} for ${now - this.lastRecv} ms`);
      return;
    }
    const pingInterval = Math.min(Math.floor(sessionTimeoutMs / 3), pingIntervalMsMax);
    if (now - this.lastSend >= pingInterval) {
      const w = new JuteWriter(16);
      RequestHeaderCodec.write(w, { xid: Xid.ping, type: OpCode.ping });
      this.write(w.frame());
    }
  }

  private clearTimers(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.connectTimer = null;
    this.tickTimer = null;
  }
}

function open(host: HostPort, options: ClientTlsOptions | null): net.Socket {
  if (options === null) return net.connect({ host: host.host, port: host.port });
  // An IP address is checked against the certificate's IP names; SNI takes host names only.
  const servername = options.servername ?? (net.isIP(host.host) === 0 ? host.host : undefined);
  return tls.connect({ host: host.host, port: host.port, ...options, servername });
}
