// The peer transport's facade: one link per peer, messages sent (or held while the link is
// down) and received frames checked and delivered; dialling and accepting live beside it.
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { FrameDecoder } from '../protocol/framing.js';
import { defaultQuorumLimits } from './limits.js';
import type { PeerMessage } from './messages.js';
import { acceptPeerConnection } from './peer-accept.js';
import { PeerDialer, type PeerConnectContext } from './peer-dial.js';
import { PeerFrameWriter, decodePeerFrame } from './peer-frames.js';
import {
  juteMaxBufferDefault,
  peerBacklogMessagesMax,
  peerFrameBytesCeiling,
  peerFrameBytesFor,
  peerFrameOverheadBytes,
  type PeerTransportOptions,
} from './peer-options.js';

interface Link {
  socket: Socket | null;
  backlog: Buffer[];
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
  private readonly connect: PeerConnectContext;
  private readonly dialer: PeerDialer;
  private readonly writer = new PeerFrameWriter();
  readonly frameBytesMax: number;
  framesDropped = 0;
  framesReceived = 0;

  constructor(private readonly options: PeerTransportOptions) {
    this.log = options.log.child({ component: 'peer-transport' });
    const tls = options.tls ?? null;
    const secureContext = tls === null ? null : createSecureContext({ key: tls.key, cert: tls.cert, ca: [...tls.ca], minVersion: 'TLSv1.2' });
    const juteMaxBuffer = options.juteMaxBuffer ?? juteMaxBufferDefault;
    this.frameBytesMax = peerFrameBytesFor(juteMaxBuffer);
    if (this.frameBytesMax > peerFrameBytesCeiling) {
      throw new ConfigError('jute.maxbuffer', `${juteMaxBuffer} needs peer frames of ${this.frameBytesMax} bytes (a txn of that size and overhead), more than the ${peerFrameBytesCeiling} a peer frame may be`);
    }
    if (defaultQuorumLimits.snapChunkBytes + peerFrameOverheadBytes > this.frameBytesMax) {
      throw new ConfigError('jute.maxbuffer', `a SNAP chunk of ${defaultQuorumLimits.snapChunkBytes} bytes does not fit a peer frame of ${this.frameBytesMax}`);
    }
    for (const p of options.peers) {
      if (p.sid !== options.self) this.links.set(p.sid, { socket: null, backlog: [] });
    }
    this.connect = {
      options,
      log: this.log,
      secret: options.secret ?? null,
      tls,
      secureContext,
      pending: new Set<Socket>(),
      isStopped: () => this.stopped,
      isConnected: (sid) => this.isConnected(sid),
      attach: (sid, socket, initial) => this.attach(sid, socket, initial),
    };
    this.dialer = new PeerDialer(this.connect);
  }

  /** Frames handed to peer sockets. */
  get framesSent(): number { return this.writer.framesSent; }
  /** Writes handed to peer sockets: one per socket per turn of the event loop, however many frames. */
  get peerWrites(): number { return this.writer.peerWrites; }

  async start(): Promise<void> {
    const server = createServer((socket) => acceptPeerConnection(this.connect, socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listenPort, this.options.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'peer port error'));
    await this.dialer.start();
  }

  get port(): number {
    const a = this.server?.address();
    return a !== null && typeof a === 'object' ? a.port : this.options.listenPort;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.dialer.stop();
    for (const link of this.links.values()) {
      link.socket?.destroy();
      link.socket = null;
    }
    for (const s of this.connect.pending) s.destroy();
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
    const frame = this.writer.encode(msg);
    if (frame.length - 4 > this.frameBytesMax) {
      // The peer would refuse it; dropping it and the link keeps the stream honest.
      this.log.error({ peer: to, type: msg.type, bytes: frame.length - 4, frameBytesMax: this.frameBytesMax }, 'peer message larger than a frame may be; not sent');
      this.framesDropped++;
      this.disconnect(to, `a ${msg.type} of ${frame.length - 4} bytes does not fit a peer frame`);
      return;
    }
    if (link.socket !== null) return this.writer.write(link.socket, frame);
    if (link.backlog.length >= peerBacklogMessagesMax) {
      this.log.warn({ peer: to, dropped: link.backlog.length }, 'peer backlog full; dropping it');
      link.backlog = [];
      this.options.onDisconnected(to);
    }
    link.backlog.push(frame);
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
      if (this.options.self > sid) this.dialer.scheduleRedial(sid);
    });
    const backlog = link.backlog;
    link.backlog = [];
    for (const frame of backlog) this.writer.write(socket, frame);
    if (initial !== undefined && initial.length > 0) onFrames(initial);
  }

  private deliver(from: number, frame: Buffer, log: Logger, socket: Socket): void {
    const checked = decodePeerFrame(frame);
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
    // Only a fault plan that may hold messages gets a closure (and its context) per message.
    if (this.options.faults?.hold !== undefined) this.handOverOrHold(from, msg, socket);
    else this.handOver(from, msg);
  }

  private handOverOrHold(from: number, msg: PeerMessage, socket: Socket): void {
    if (this.options.faults!.hold!(from, this.options.self, msg, () => socket.destroyed || this.handOver(from, msg))) return;
    this.handOver(from, msg);
  }

  private handOver(from: number, msg: PeerMessage): void {
    this.framesReceived++;
    this.options.onMessage(from, msg);
  }
}
