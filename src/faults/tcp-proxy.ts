import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Prng } from '../quorum/sim/prng.js';
import { StreamPipe, type StreamEnd } from './stream-pipe.js';
import { checkRange, latencyMsMax, noToxics, streamsOf, type Direction, type StreamToxics, type Toxics } from './toxics.js';

/** Bytes held per direction of a connection before the proxy stops reading that side. */
export const proxyBufferBytesDefault = 1024 * 1024;

export interface TcpProxyOptions {
  /** Where connections are forwarded. */
  upstream: { host?: string; port: number };
  /** Where the proxy listens; default 127.0.0.1 and a port from the OS. */
  host?: string;
  port?: number;
  /** Seeds the choices of drop and jitter (default: random; see `seed`). */
  seed?: number;
  bufferBytesMax?: number;
}

/** Where a listener's connections go. */
interface Route {
  host: string;
  port: number;
}

interface Pair {
  client: Socket;
  route: Route;
  upstream: Socket | null;
  up: StreamPipe;
  down: StreamPipe;
  removed: boolean;
}

/**
 * A TCP proxy in front of one server, with Toxiproxy's kind of toxics (see README, "Reconnection
 * testing", for what each one does to a client). Every toxic changes what happens to bytes from
 * the moment it is set, on open connections and new ones alike; `heal()` removes them all.
 * `listenAlso` fronts another port of the same server (its TLS port) under the same toxics.
 */
export class TcpProxy {
  /** Connections accepted so far. */
  accepted = 0;
  readonly seed: number;
  private readonly server: Server;
  private readonly moreServers: Server[] = [];
  private readonly pairs = new Set<Pair>();
  private readonly prng: Prng;
  private readonly bufferBytesMax: number;
  private upstreamAddress: Route;
  private toxicState = { upstream: noToxics(), downstream: noToxics(), reset: false };

  private constructor(options: TcpProxyOptions) {
    this.upstreamAddress = { host: options.upstream.host ?? '127.0.0.1', port: options.upstream.port };
    this.seed = options.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
    this.prng = new Prng(this.seed);
    this.bufferBytesMax = options.bufferBytesMax ?? proxyBufferBytesDefault;
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket, this.upstreamAddress));
  }

  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const proxy = new TcpProxy(options);
    await listen(proxy.server, options.port ?? 0, options.host ?? '127.0.0.1');
    proxy.server.unref();
    return proxy;
  }

  get host(): string {
    return (this.server.address() as AddressInfo).address;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get connectString(): string {
    return `${this.host}:${this.port}`;
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  /** Bytes the proxy holds right now, over every connection and both directions (blackhole, latency, bandwidth). */
  get heldBytes(): number {
    let bytes = 0;
    for (const pair of this.pairs) bytes += pair.up.heldBytes + pair.down.heldBytes;
    return bytes;
  }

  /** The toxics in force. */
  get toxics(): Toxics {
    return { upstream: { ...this.toxicState.upstream }, downstream: { ...this.toxicState.downstream }, reset: this.toxicState.reset };
  }

  /** Later connections go to this port (a server that moved); open ones stay where they are. */
  retarget(port: number, host = this.upstreamAddress.host): void {
    this.upstreamAddress = { host, port };
  }

  /**
   * Listens on one more port (default: from the OS), forwarding to `upstream` under this proxy's
   * toxics and counts; resolves with the `host:port` it listens on. Open until close().
   */
  async listenAlso(options: { upstream: { host?: string; port: number }; host?: string; port?: number }): Promise<string> {
    const route: Route = { host: options.upstream.host ?? '127.0.0.1', port: options.upstream.port };
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket, route));
    await listen(server, options.port ?? 0, options.host ?? this.host);
    server.unref();
    this.moreServers.push(server);
    const address = server.address() as AddressInfo;
    return `${address.address}:${address.port}`;
  }

  /** Every chunk arrives `ms` later (± up to `jitterMs`), in order. Default direction: downstream, as Toxiproxy's. */
  latency(ms: number, jitterMs = 0, direction: Direction = 'downstream'): void {
    checkRange('latency ms', ms, 0, latencyMsMax);
    checkRange('jitter ms', jitterMs, 0, latencyMsMax);
    this.set(direction, { latencyMs: ms, jitterMs });
  }

  /** At most `kibPerSecond` KiB/s through each connection (0: no limit). Default direction: downstream, as Toxiproxy's. */
  bandwidth(kibPerSecond: number, direction: Direction = 'downstream'): void {
    checkRange('bandwidth KiB/s', kibPerSecond, 0, 10_000_000);
    this.set(direction, { bandwidthBytesPerSecond: Math.round(kibPerSecond * 1024) });
  }

  /**
   * Each chunk of bytes (what one read from a socket returns: a ZooKeeper request or reply, or a
   * few of them) is lost with this probability; a stream cannot go on past a lost chunk, so its
   * connection is reset both ways at once. Default direction: both.
   */
  drop(percent: number, direction: Direction = 'both'): void {
    checkRange('drop percent', percent, 0, 100);
    this.set(direction, { dropPercent: percent });
  }

  /**
   * Nothing is forwarded: connections are accepted and read, and what arrives (closes included)
   * is held, up to the buffer bound, then the proxy stops reading. Each side sees silence, not a
   * close. `heal()` delivers what was held, in order, as TCP does once a network heals. A new
   * connection is not opened upstream while the upstream direction is blackholed.
   * Default direction: both.
   */
  blackhole(direction: Direction = 'both'): void {
    this.set(direction, { blackhole: true });
  }

  /** Resets every connection now (both sides see ECONNRESET) and each new one as soon as it is accepted, until healed. */
  reset(): void {
    this.toxicState.reset = true;
    this.cut();
  }

  /** Resets the connections open now, once; new ones are forwarded as usual. */
  cut(): void {
    for (const pair of [...this.pairs]) this.resetPair(pair);
  }

  /** Removes every toxic; held bytes go on their way. */
  heal(): void {
    this.toxicState = { upstream: noToxics(), downstream: noToxics(), reset: false };
    for (const pair of [...this.pairs]) {
      if (pair.upstream === null) this.connectUpstream(pair);
      pair.up.expedite();
      pair.down.expedite();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await Promise.all([this.server, ...this.moreServers].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  private set(direction: Direction, change: Partial<StreamToxics>): void {
    for (const stream of streamsOf(direction)) this.toxicState[stream] = { ...this.toxicState[stream], ...change };
    for (const pair of this.pairs) {
      pair.up.pump();
      pair.down.pump();
    }
  }

  private accept(client: Socket, route: Route): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.toxicState.reset) {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, route, upstream: null, removed: false, up: null as unknown as StreamPipe, down: null as unknown as StreamPipe };
    const pipe = (source: () => Socket, sink: () => Socket, stream: 'upstream' | 'downstream'): StreamPipe =>
      new StreamPipe({
        source,
        sink,
        toxics: () => this.toxicState[stream],
        prng: this.prng,
        bufferBytesMax: this.bufferBytesMax,
        onDrop: () => this.resetPair(pair),
        onEnded: () => this.endedOne(pair),
      });
    pair.up = pipe(() => client, () => this.connectUpstream(pair), 'upstream');
    pair.down = pipe(() => this.connectUpstream(pair), () => client, 'downstream');
    this.pairs.add(pair);
    this.wire(pair, client, pair.up);
    if (!this.toxicState.upstream.blackhole) this.connectUpstream(pair);
  }

  /** The pair's upstream socket, connecting it on first use. */
  private connectUpstream(pair: Pair): Socket {
    if (pair.upstream !== null) return pair.upstream;
    const upstream = createConnection({ ...pair.route, allowHalfOpen: true, noDelay: true });
    pair.upstream = upstream;
    this.wire(pair, upstream, pair.down);
    return upstream;
  }

  /** Feeds what `source` sends, and how it ends, into `pipe`. */
  private wire(pair: Pair, source: Socket, pipe: StreamPipe): void {
    let ending: StreamEnd = 'end';
    source.on('data', (chunk: Buffer) => {
      if (!pair.removed) pipe.push(chunk);
    });
    source.on('error', () => {
      ending = 'reset';
    });
    source.on('end', () => {
      if (!pair.removed) pipe.pushEnd('end');
    });
    source.on('close', () => {
      if (pair.removed) return;
      // A client gone before anything reached the server leaves nothing to deliver.
      if (source === pair.client && pair.upstream === null && pair.up.heldBytes === 0) return this.remove(pair);
      pipe.pushEnd(ending);
    });
  }

  private endedOne(pair: Pair): void {
    if (pair.up.ended && pair.down.ended) this.remove(pair);
  }

  private resetPair(pair: Pair): void {
    if (pair.removed) return;
    pair.client.resetAndDestroy();
    pair.upstream?.resetAndDestroy();
    this.remove(pair);
  }

  private remove(pair: Pair): void {
    pair.removed = true;
    this.pairs.delete(pair);
    pair.up.discard();
    pair.down.discard();
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
