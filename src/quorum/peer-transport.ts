import { createConnection, createServer, isIP, type Server, type Socket } from 'node:net';
import { checkServerIdentity, createSecureContext, createServer as createTlsServer, connect as tlsConnect, type SecureContext, type TLSSocket } from 'node:tls';
import { Packr } from 'msgpackr';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { FrameDecoder } from '../protocol/framing.js';
import { defaultQuorumLimits } from './limits.js';
import { checkPeerMessage } from './message-schema.js';
import type { PeerMessage } from './messages.js';
import {
  HandshakeReader,
  HandshakeRefused,
  answerWelcome,
  checkDialerProof,
  decodeHello,
  decodeProof,
  decodeWelcome,
  encodeHandshakeFrame,
  helloFrame,
  normaliseAddress,
  resolveAddresses,
  welcomeFrame,
} from './peer-handshake.js';

/** The smallest peer frame limit: a few MiB. A SNAP travels in chunks, so only one txn must fit. */
export const peerFrameBytesMin = 4 * 1024 * 1024;
/** Room in a frame for a message's own fields around its txn or SNAP chunk. */
export const peerFrameOverheadBytes = 64 * 1024;
/** No jute.maxbuffer may ask for peer frames larger than this. */
export const peerFrameBytesCeiling = 256 * 1024 * 1024;
/** jute.maxbuffer when the caller does not say (ZooKeeper's default). */
const juteMaxBufferDefault = 0xfffff;
/** Messages held for a peer that is not connected; beyond this the backlog is dropped. */
export const peerBacklogMessagesMax = 50_000;
/** Redial delays for a peer we are responsible for dialling. */
export const redialDelayMsMin = 50;
export const redialDelayMsMax = 2000;
/** A connection that has not finished its handshake (TLS included) within this time is dropped. */
export const helloTimeoutMs = 5000;
/** Connections still in their handshake; more are turned away at once. */
export const peerHandshakesMax = 64;

/**
 * The peer frame limit for a jute.maxbuffer: a txn is at most a client packet's bytes re-encoded,
 * which ZooKeeper bounds by twice jute.maxbuffer (its maxbuffer + extrasize); the overhead covers
 * the message around it.
 */
export function peerFrameBytesFor(juteMaxBuffer: number): number {
  return Math.max(peerFrameBytesMin, 2 * juteMaxBuffer + peerFrameOverheadBytes);
}

export interface PeerAddress {
  sid: number;
  host: string;
  port: number;
}

/** Mutual TLS on the peer port: PEM texts, as the config loaded them. */
export interface PeerTlsOptions {
  readonly key: string;
  readonly cert: string;
  readonly ca: readonly string[];
  /** Whether a peer's certificate must name its server.N host. */
  readonly hostnameVerification: boolean;
}

/**
 * Where failure tests plug in (src/faults implements it): a hook consulted for every message in
 * either direction. allow() returning false drops the message (and, to keep FIFO honest, the
 * connection). hold(), for a received message that allow() let through, may take it and hand
 * it over later by calling `deliver`, messages from one peer in the order received (a delayed
 * or partitioned link); a message whose connection closed meanwhile is lost with it.
 */
export interface PeerFaultHook {
  allow(from: number, to: number, msg: PeerMessage): boolean;
  hold?(from: number, to: number, msg: PeerMessage, deliver: () => void): boolean;
}

export interface PeerTransportOptions {
  self: number;
  peers: readonly PeerAddress[];
  listenHost: string;
  listenPort: number;
  log: Logger;
  onMessage(from: number, msg: PeerMessage): void;
  onDisconnected(peer: number): void;
  faults?: PeerFaultHook;
  /** jute.maxbuffer: one txn of that size must fit in a peer frame. */
  juteMaxBuffer?: number;
  /** Mutual TLS with a common CA; null or absent for plain TCP. */
  tls?: PeerTlsOptions | null;
  /** A secret every member holds: the hello becomes an HMAC challenge-response. */
  secret?: Uint8Array | null;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

function encodeFrame(value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Connection failures that only mean "not up yet": a peer that is down is not news for the log. */
const quietDialErrors = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

interface Link {
  socket: Socket | null;
  backlog: Buffer[];
  redialTimer: NodeJS.Timeout | null;
  redialDelayMs: number;
  /** A dial is under way (resolving, connecting or in its handshake). */
  dialing: boolean;
  /** Why the last dial failed, so a failure that repeats is logged once. */
  lastDialProblem: string | null;
}

/**
 * One TCP (or TLS) connection per pair of peers, msgpackr frames, FIFO per pair. As in ZooKeeper
 * the connection dialled by the larger sid is the one kept: here only the larger sid dials, and
 * the smaller one accepts. A connection becomes a peer's link only after the handshake proves it
 * comes from that peer's configured address (and, with TLS or a shared secret, that it holds the
 * credentials); every message on it is checked against its schema. A broken or replaced
 * connection is reported once with onDisconnected; messages sent while no connection exists
 * wait in a bounded backlog.
 */
export class PeerTransport {
  private readonly links = new Map<number, Link>();
  private server: Server | null = null;
  private stopped = false;
  private readonly log: Logger;
  private readonly pending = new Set<Socket>();
  private readonly secret: Uint8Array | null;
  private readonly tls: PeerTlsOptions | null;
  private readonly secureContext: SecureContext | null;
  private localAddresses: string[] = [];
  readonly frameBytesMax: number;
  framesDropped = 0;
  framesSent = 0;
  framesReceived = 0;
  /** Writes handed to peer sockets: one per socket per turn of the event loop, however many frames. */
  peerWrites = 0;
  /** Sockets written to in this turn, corked until the turn's flush. */
  private readonly corked = new Set<Socket>();
  private flushScheduled = false;
  /** The last message encoded: the leader hands one message object to every follower. */
  private lastEncoded: { msg: PeerMessage; frame: Buffer } | null = null;

  constructor(private readonly options: PeerTransportOptions) {
    this.log = options.log.child({ component: 'peer-transport' });
    this.secret = options.secret ?? null;
    this.tls = options.tls ?? null;
    this.secureContext = this.tls === null ? null : createSecureContext({ key: this.tls.key, cert: this.tls.cert, ca: [...this.tls.ca], minVersion: 'TLSv1.2' });
    const juteMaxBuffer = options.juteMaxBuffer ?? juteMaxBufferDefault;
    this.frameBytesMax = peerFrameBytesFor(juteMaxBuffer);
    if (this.frameBytesMax > peerFrameBytesCeiling) {
      throw new ConfigError('jute.maxbuffer', `${juteMaxBuffer} needs peer frames of ${this.frameBytesMax} bytes (a txn of that size and overhead), more than the ${peerFrameBytesCeiling} a peer frame may be`);
    }
    if (defaultQuorumLimits.snapChunkBytes + peerFrameOverheadBytes > this.frameBytesMax) {
      throw new ConfigError('jute.maxbuffer', `a SNAP chunk of ${defaultQuorumLimits.snapChunkBytes} bytes does not fit a peer frame of ${this.frameBytesMax}`);
    }
    for (const p of options.peers) {
      if (p.sid === options.self) continue;
      this.links.set(p.sid, { socket: null, backlog: [], redialTimer: null, redialDelayMs: redialDelayMsMin, dialing: false, lastDialProblem: null });
    }
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listenPort, this.options.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'peer port error'));
    // Dial from our own server.N address, so that peers see the address they expect.
    if (!isWildcard(this.options.listenHost)) this.localAddresses = await resolveAddresses(this.options.listenHost).catch(() => []);
    for (const sid of this.links.keys()) if (this.options.self > sid) this.dial(sid);
  }

  get port(): number {
    const a = this.server?.address();
    return a !== null && typeof a === 'object' ? a.port : this.options.listenPort;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const link of this.links.values()) {
      if (link.redialTimer !== null) clearTimeout(link.redialTimer);
      link.socket?.destroy();
      link.socket = null;
    }
    for (const s of this.pending) s.destroy();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  isConnected(peer: number): boolean {
    return this.links.get(peer)?.socket != null;
  }

  send(to: number, msg: PeerMessage): void {
    const link = this.links.get(to);
    if (link === undefined || this.stopped) return;
    if (this.options.faults !== undefined && !this.options.faults.allow(this.options.self, to, msg)) {
      this.framesDropped++;
      this.disconnect(to);
      return;
    }
    const frame = this.encode(msg);
    if (frame.length - 4 > this.frameBytesMax) {
      // The peer would refuse it; dropping it and the link keeps the stream honest.
      this.log.error({ peer: to, type: msg.type, bytes: frame.length - 4, frameBytesMax: this.frameBytesMax }, 'peer message larger than a frame may be; not sent');
      this.framesDropped++;
      this.disconnect(to, `a ${msg.type} of ${frame.length - 4} bytes does not fit a peer frame`);
      return;
    }
    if (link.socket !== null) return this.write(link.socket, frame);
    if (link.backlog.length >= peerBacklogMessagesMax) {
      this.log.warn({ peer: to, dropped: link.backlog.length }, 'peer backlog full; dropping it');
      link.backlog = [];
      this.options.onDisconnected(to);
    }
    link.backlog.push(frame);
  }

  /** Encodes once per message object, so a proposal to n followers is packed once, not n times. */
  private encode(msg: PeerMessage): Buffer {
    if (this.lastEncoded?.msg !== msg) this.lastEncoded = { msg, frame: encodeFrame(msg) };
    return this.lastEncoded.frame;
  }

  /**
   * Everything sent to one peer in a turn of the event loop leaves in one writev: the first
   * write of the turn corks the socket and the turn's flush uncorks it. setImmediate, not
   * nextTick, so the batch spans every callback of the turn (a data chunk of several frames,
   * the fsync completion, client packets); it adds no wait beyond the callbacks already ready.
   */
  private write(socket: Socket, frame: Buffer): void {
    if (!this.corked.has(socket)) {
      socket.cork();
      this.corked.add(socket);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    socket.write(frame);
    this.framesSent++;
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const socket of this.corked) {
      socket.uncork();
      if (!socket.destroyed) this.peerWrites++;
    }
    this.corked.clear();
  }

  /**
   * Closes the connection to a peer (the core gave up on it); it is re-established later. A
   * reason, when given, is logged: it says why this server abandoned the link.
   */
  disconnect(peer: number, reason?: string): void {
    const link = this.links.get(peer);
    if (link === undefined) return;
    if (reason !== undefined) this.log.warn({ peer, address: link.socket?.remoteAddress, reason }, 'closing peer link');
    link.backlog = [];
    if (link.socket !== null) link.socket.destroy();
  }

  private dial(sid: number): void {
    const link = this.links.get(sid)!;
    if (this.stopped || link.socket !== null || link.redialTimer !== null || link.dialing) return;
    const addr = this.options.peers.find((p) => p.sid === sid)!;
    link.dialing = true;
    // Resolved on every dial: a peer that restarts may come back on a new address.
    void resolveAddresses(addr.host).then(
      (addresses) => {
        if (this.stopped || link.socket !== null) {
          link.dialing = false;
          return;
        }
        this.connectTo(sid, addr, addresses[0]!);
      },
      (err: Error) => {
        link.dialing = false;
        this.dialFailed(sid, `cannot resolve ${addr.host}: ${err.message}`, true);
      },
    );
  }

  private connectTo(sid: number, addr: PeerAddress, address: string): void {
    const localAddress = this.localAddresses.find((a) => isIP(a) === isIP(address));
    const tcp = createConnection({ host: address, port: addr.port, localAddress });
    const socket: Socket = this.tls === null
      ? tcp
      : tlsConnect({
          socket: tcp,
          servername: isIP(addr.host) === 0 ? addr.host : undefined,
          secureContext: this.secureContext!,
          checkServerIdentity: (_host, cert) => (this.tls!.hostnameVerification ? checkServerIdentity(addr.host, cert) : undefined),
        });
    tcp.setNoDelay(true);
    this.pending.add(socket);
    const reader = new HandshakeReader(socket);
    // Connecting, TLS and the welcome all within the timeout; a peer that never answers is dialled again.
    const timer = setTimeout(() => {
      reader.fail(new HandshakeRefused('no welcome within the handshake timeout'));
      socket.destroy();
    }, helloTimeoutMs);
    let problem: string | null = null;
    const onError = (err: NodeJS.ErrnoException): void => {
      problem = err.message;
      reader.fail(new HandshakeRefused(err.message));
      if (err.code === undefined || !quietDialErrors.has(err.code)) this.dialFailed(sid, err.message, false);
    };
    socket.on('error', onError);
    if (tcp !== socket) tcp.on('error', onError);
    socket.once(this.tls === null ? 'connect' : 'secureConnect', () => {
      this.handshakeAsDialer(sid, socket, reader).then(
        () => {
          clearTimeout(timer);
          this.pending.delete(socket);
          const link = this.links.get(sid)!;
          link.dialing = false;
          if (this.stopped) return socket.destroy();
          link.lastDialProblem = null;
          link.redialDelayMs = redialDelayMsMin;
          this.attach(sid, socket, reader.detach());
        },
        (err: Error) => {
          clearTimeout(timer);
          if (problem === null) this.dialFailed(sid, err.message, false);
          socket.destroy();
        },
      );
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!this.pending.delete(socket)) return;
      this.links.get(sid)!.dialing = false;
      this.scheduleRedial(sid);
    });
  }

  /** Logs a dial problem once per change of reason; `redial` when no socket will close to trigger it. */
  private dialFailed(sid: number, problem: string, redial: boolean): void {
    const link = this.links.get(sid)!;
    if (link.lastDialProblem !== problem) {
      link.lastDialProblem = problem;
      const addr = this.options.peers.find((p) => p.sid === sid)!;
      this.log.warn({ peer: sid, address: `${addr.host}:${addr.port}`, reason: problem }, 'cannot connect to peer');
    }
    if (redial) this.scheduleRedial(sid);
  }

  private async handshakeAsDialer(sid: number, socket: Socket, reader: HandshakeReader): Promise<void> {
    const hello = helloFrame(this.options.self);
    socket.write(encodeHandshakeFrame(hello));
    const welcome = decodeWelcome(await reader.next());
    socket.write(encodeHandshakeFrame(answerWelcome(this.secret, hello, sid, welcome)));
  }

  private scheduleRedial(sid: number): void {
    const link = this.links.get(sid)!;
    if (this.stopped || link.redialTimer !== null || link.socket !== null) return;
    link.redialTimer = setTimeout(() => {
      link.redialTimer = null;
      this.dial(sid);
    }, link.redialDelayMs);
    link.redialTimer.unref();
    link.redialDelayMs = Math.min(link.redialDelayMs * 2, redialDelayMsMax);
  }

  /**
   * An incoming connection must prove who it is before it may speak: TLS first when it is on
   * (a certificate our CA signed), then the hello. The whole of it within helloTimeoutMs.
   */
  private accept(raw: Socket): void {
    // Read now: a destroyed socket no longer knows its peer's address.
    const address = raw.remoteAddress;
    if (this.pending.size >= peerHandshakesMax) {
      this.log.warn({ address, handshakes: this.pending.size }, 'too many peer handshakes in progress; connection refused');
      raw.destroy();
      return;
    }
    raw.setNoDelay(true);
    raw.on('error', () => undefined);
    this.pending.add(raw);
    let reader: HandshakeReader | null = null;
    const timer = setTimeout(() => {
      if (reader !== null) return reader.fail(new HandshakeRefused('no hello within the handshake timeout'));
      this.log.warn({ address, reason: 'no TLS handshake within the handshake timeout' }, 'peer TLS handshake refused');
      raw.destroy();
    }, helloTimeoutMs);
    const settled = (): void => {
      clearTimeout(timer);
      this.pending.delete(raw);
    };
    raw.once('close', settled);
    const greet = (socket: Socket): void => {
      reader = new HandshakeReader(socket);
      this.greet(socket, reader, address, settled);
    };
    if (this.tls === null) return greet(raw);
    // A TLS server of its own for this one connection (documented: a server takes injected
    // connections), so that its verdict is known to be about this caller and its address.
    const tlsServer = createTlsServer({
      key: this.tls.key, cert: this.tls.cert, ca: [...this.tls.ca], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
    });
    tlsServer.once('secureConnection', (socket: TLSSocket) => greet(socket));
    tlsServer.once('tlsClientError', (err: Error, socket: TLSSocket) => {
      if (!this.stopped) this.log.warn({ address, reason: socket.authorizationError?.toString() ?? err.message }, 'peer TLS handshake refused');
    });
    tlsServer.emit('connection', raw);
  }

  private greet(socket: Socket, reader: HandshakeReader, address: string | undefined, settled: () => void): void {
    const claimed: { sid?: number } = {};
    this.handshakeAsAcceptor(socket, reader, claimed).then(
      (sid) => {
        settled();
        if (this.stopped) return socket.destroy();
        this.attach(sid, socket, reader.detach());
      },
      (err: Error) => {
        settled();
        socket.destroy();
        if (!this.stopped) this.log.warn({ address, claimedSid: claimed.sid, reason: err.message }, 'peer connection refused');
      },
    );
  }

  private async handshakeAsAcceptor(socket: Socket, reader: HandshakeReader, claimed: { sid?: number }): Promise<number> {
    const hello = decodeHello(await reader.next());
    claimed.sid = hello.sid;
    await this.checkCaller(socket, hello.sid);
    const welcome = welcomeFrame(this.secret, hello, this.options.self);
    socket.write(encodeHandshakeFrame(welcome));
    checkDialerProof(this.secret, hello, welcome, decodeProof(await reader.next()));
    return hello.sid;
  }

  /** The hello's id must be a configured peer that dials us, calling from that peer's own address. */
  private async checkCaller(socket: Socket, sid: number): Promise<void> {
    const spec = this.options.peers.find((p) => p.sid === sid);
    if (sid === this.options.self) throw new HandshakeRefused(`the hello names this server's own id ${sid}`);
    if (spec === undefined || !this.links.has(sid)) throw new HandshakeRefused(`server ${sid} is not in the configuration`);
    if (sid < this.options.self) throw new HandshakeRefused(`server ${sid} has a smaller id: this server dials it, never the reverse`);
    const address = normaliseAddress(socket.remoteAddress);
    const expected = await resolveAddresses(spec.host).catch(() => [] as string[]);
    if (!expected.includes(address)) {
      throw new HandshakeRefused(`address ${address} is not server.${sid}'s host ${spec.host} (${expected.join(', ') || 'unresolved'})`);
    }
    if (this.tls !== null && this.tls.hostnameVerification) {
      const problem = checkServerIdentity(spec.host, (socket as TLSSocket).getPeerCertificate());
      if (problem !== undefined) throw new HandshakeRefused(`its certificate does not name ${spec.host}: ${problem.message}`);
    }
  }

  private attach(sid: number, socket: Socket, initial?: Buffer): void {
    const link = this.links.get(sid)!;
    if (link.socket !== null && link.socket !== socket) {
      // A newer, proven connection replaces the old one; what was in flight on the old one may
      // be lost, so the core hears of a break before anything arrives on the new one.
      const old = link.socket;
      link.socket = null;
      old.destroy();
      this.log.info({ peer: sid, address: old.remoteAddress }, 'peer link replaced by a new connection');
      this.options.onDisconnected(sid);
    }
    link.socket = socket;
    const log = this.log.child({ peer: sid, address: socket.remoteAddress });
    log.info('peer connected');
    const decoder = new FrameDecoder(this.frameBytesMax);
    const onFrames = (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        log.warn({ reason: (err as Error).message }, 'bad peer frame; closing connection');
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (socket.destroyed) return;
        this.deliver(sid, f, log, socket);
      }
    };
    socket.on('data', onFrames);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (link.socket !== socket) return;
      link.socket = null;
      log.info('peer disconnected');
      this.options.onDisconnected(sid);
      if (this.options.self > sid) this.scheduleRedial(sid);
    });
    const backlog = link.backlog;
    link.backlog = [];
    for (const frame of backlog) this.write(socket, frame);
    if (initial !== undefined && initial.length > 0) onFrames(initial);
  }

  private deliver(from: number, frame: Buffer, log: Logger, socket: Socket): void {
    let decoded: unknown;
    try {
      decoded = packr.unpack(frame);
    } catch (err) {
      log.warn({ reason: (err as Error).message }, 'undecodable peer frame dropped; closing connection');
      socket.destroy();
      return;
    }
    const checked = checkPeerMessage(decoded);
    if (!checked.ok) {
      log.warn({ reason: checked.reason }, 'invalid peer message; closing connection');
      socket.destroy();
      return;
    }
    const msg = checked.msg;
    if (this.options.faults !== undefined && !this.options.faults.allow(from, this.options.self, msg)) {
      this.framesDropped++;
      socket.destroy();
      return;
    }
    const handOver = (): void => {
      this.framesReceived++;
      this.options.onMessage(from, msg);
    };
    if (this.options.faults?.hold?.(from, this.options.self, msg, () => socket.destroyed || handOver()) === true) return;
    handOver();
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
