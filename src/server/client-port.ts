import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { ServerConfig } from '../config/config.js';
import type { ClientTlsConfig } from '../config/security.js';
import { StartupError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Id } from '../protocol/records.js';
import { x509Ids } from './x509-name.js';

/** One port clients connect to, as the config names it: `clientPort` (TCP) or `secureClientPort` (TLS). */
export interface ClientPortSpec {
  /** The config key that names this port, for errors and logs. */
  readonly key: string;
  readonly port: number;
  readonly address: string;
  /** Concurrent connections from one IP address on this port; 0: no limit (maxClientCnxns). */
  readonly perAddressMax: number;
  /** Concurrent connections on this port; 0: no limit (maxCnxns). */
  readonly totalMax: number;
  /** TLS on this port; null: plain TCP. */
  readonly tls: ClientTlsConfig | null;
  /** A TLS handshake not done within this many ms is dropped (the ConnectRequest deadline). */
  readonly handshakeTimeoutMs: number;
}

/** The ports a server's config asks for: clientPort, secureClientPort, or both. */
export function clientPortSpecs(config: ServerConfig): ClientPortSpec[] {
  const limits = { perAddressMax: config.maxClientCnxns, totalMax: config.maxCnxns, handshakeTimeoutMs: config.connectTimeoutMs };
  const specs: ClientPortSpec[] = [];
  if (config.clientPort !== null) specs.push({ key: 'clientPort', port: config.clientPort, address: config.clientPortAddress, tls: null, ...limits });
  const tls = config.clientTls;
  if (tls !== null) specs.push({ key: 'secureClientPort', port: tls.port, address: tls.address, tls, ...limits });
  return specs;
}

/** What an admitted connection starts with: its socket and the ids its certificate proved (none on TCP). */
export type SocketListener = (socket: Socket, ids: readonly Id[]) => void;

/** A connection refused at accept, with why: counted and logged by the caller. */
export type RefusalListener = (why: 'perAddress' | 'total', address: string) => void;

/**
 * A listener on one client port: listen, accept, and the connection limits, counted per port
 * as ZooKeeper counts them per connection factory. What becomes of an accepted socket is the
 * caller's (`onSocket`); this class only admits it and frees its slot when it closes.
 */
export class ClientPort {
  private server: Server | null = null;
  private readonly perAddress = new Map<string, number>();
  private total = 0;
  private readonly log: Logger;

  constructor(
    readonly spec: ClientPortSpec,
    log: Logger,
    private readonly onSocket: SocketListener,
    private readonly onRefused: RefusalListener,
  ) {
    this.log = log.child({ listener: spec.key });
  }

  /** The port bound (the OS's choice when the config says 0). */
  get port(): number {
    const addr = this.server?.address();
    return addr !== null && addr !== undefined && typeof addr === 'object' ? addr.port : this.spec.port;
  }

  /** Connections open on this port now. */
  get connections(): number {
    return this.total;
  }

  /** Binds the port; a port in use or an address not ours is a StartupError naming the key. */
  async listen(): Promise<void> {
    const server = this.spec.tls === null ? this.plainServer() : this.tlsServer(this.spec.tls);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.spec.port, this.spec.address, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new StartupError(this.spec.key, String(this.spec.port), `cannot listen on ${this.spec.address}:${this.spec.port}: ${listenFailure(err)}`, { cause: err });
    });
    this.server = server;
    server.on('error', (err) => this.log.error({ err }, 'client port error'));
  }

  /** Stops accepting; connections already open are the caller's to close. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private plainServer(): Server {
    return createServer({ noDelay: true }, (socket) => {
      if (this.admit(socket)) this.onSocket(socket, []);
    });
  }

  /**
   * The limits count TCP connections, before their handshake, so a flood of handshakes is
   * limited too; a connection reaches `onSocket` once its handshake is done and its
   * certificate (if any) verified.
   */
  private tlsServer(tls: ClientTlsConfig): Server {
    const server = createTlsServer({
      key: tls.key,
      cert: tls.cert,
      ...(tls.ca === null ? {} : { ca: [...tls.ca] }),
      requestCert: tls.clientAuth !== 'none',
      rejectUnauthorized: tls.clientAuth === 'need',
      handshakeTimeout: this.spec.handshakeTimeoutMs,
    });
    server.on('connection', (socket: Socket) => {
      if (!this.admit(socket)) return;
      socket.setNoDelay(true);
    });
    server.on('secureConnection', (socket: TLSSocket) => this.secured(socket, tls));
    // Node reports a handshake timeout here but leaves the socket open: close it, or a client
    // that never finishes its handshake would hold its connection slot for good.
    server.on('tlsClientError', (err, socket) => {
      this.log.info({ peer: normalizeAddress(socket.remoteAddress ?? ''), err: err.message }, 'TLS handshake failed');
      socket.destroy();
    });
    return server;
  }

  /** A presented certificate must verify even under clientAuth=want, as a Java trust manager insists. */
  private secured(socket: TLSSocket, tls: ClientTlsConfig): void {
    const cert = tls.clientAuth === 'none' ? undefined : socket.getPeerX509Certificate();
    if (cert !== undefined && !socket.authorized) {
      this.log.info({ peer: normalizeAddress(socket.remoteAddress ?? ''), err: String(socket.authorizationError) }, 'client certificate refused');
      socket.destroy();
      return;
    }
    let ids: readonly Id[] = [];
    try {
      if (cert !== undefined) ids = x509Ids(cert, tls.superUser);
    } catch (err) {
      // OpenSSL took the certificate; a subject this parser cannot read is refused, not fatal.
      this.log.warn({ peer: normalizeAddress(socket.remoteAddress ?? ''), err: (err as Error).message }, 'client certificate subject unreadable');
      socket.destroy();
      return;
    }
    this.onSocket(socket, ids);
  }

  /** Counts a new connection against the limits; false (and the socket destroyed) when over one. */
  private admit(socket: Socket): boolean {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.spec.totalMax > 0 && this.total >= this.spec.totalMax) return this.refuse(socket, 'total', address, this.spec.totalMax);
    if (this.spec.perAddressMax > 0 && fromAddress >= this.spec.perAddressMax) return this.refuse(socket, 'perAddress', address, this.spec.perAddressMax);
    this.total++;
    this.perAddress.set(address, fromAddress + 1);
    socket.once('close', () => this.release(address));
    return true;
  }

  private refuse(socket: Socket, why: 'perAddress' | 'total', address: string, limit: number): false {
    const message = why === 'total' ? 'too many connections on this port; refusing' : 'too many connections from this address; refusing';
    this.log.warn({ peer: address, limit }, message);
    this.onRefused(why, address);
    socket.destroy();
    return false;
  }

  private release(address: string): void {
    this.total--;
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }
}

/** Why a listen failed, in words, with the errno code (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
export function listenFailure(err: NodeJS.ErrnoException): string {
  const words: Record<string, string> = {
    EADDRINUSE: 'the address is already in use',
    EACCES: 'permission denied',
    EADDRNOTAVAIL: 'the address is not one of this host',
  };
  const code = err.code ?? 'unknown error';
  return `${words[code] ?? err.message} (${code})`;
}

export function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
