import { createServer, type Server, type Socket } from 'node:net';
import type { ServerConfig } from '../config/config.js';
import { StartupError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * One port clients connect to, as the config names it. Today `clientPort`; `secureClientPort`
 * (TLS) becomes a second entry with its own key, address and TLS options.
 */
export interface ClientPortSpec {
  /** The config key that names this port, for errors and logs. */
  readonly key: string;
  readonly port: number;
  readonly address: string;
  /** Concurrent connections from one IP address on this port; 0: no limit (maxClientCnxns). */
  readonly perAddressMax: number;
  /** Concurrent connections on this port; 0: no limit (maxCnxns). */
  readonly totalMax: number;
}

/** The ports a server's config asks for. */
export function clientPortSpecs(config: ServerConfig): ClientPortSpec[] {
  return [{ key: 'clientPort', port: config.clientPort, address: config.clientPortAddress, perAddressMax: config.maxClientCnxns, totalMax: config.maxCnxns }];
}

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
    private readonly onSocket: (socket: Socket) => void,
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
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
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

  private accept(socket: Socket): void {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.spec.totalMax > 0 && this.total >= this.spec.totalMax) return this.refuse(socket, 'total', address, this.spec.totalMax);
    if (this.spec.perAddressMax > 0 && fromAddress >= this.spec.perAddressMax) return this.refuse(socket, 'perAddress', address, this.spec.perAddressMax);
    this.total++;
    this.perAddress.set(address, fromAddress + 1);
    socket.once('close', () => this.release(address));
    this.onSocket(socket);
  }

  private refuse(socket: Socket, why: 'perAddress' | 'total', address: string, limit: number): void {
    const message = why === 'total' ? 'too many connections on this port; refusing' : 'too many connections from this address; refusing';
    this.log.warn({ peer: address, limit }, message);
    this.onRefused(why, address);
    socket.destroy();
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
