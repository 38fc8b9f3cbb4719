import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Packr } from 'msgpackr';
import type { Logger } from '../logger.js';
import { FrameDecoder } from '../protocol/framing.js';
import { quorumProtocolVersion, type PeerMessage } from './messages.js';

/** Largest peer frame: a SNAP of a large tree travels as one message. */
export const peerFrameBytesMax = 1024 * 1024 * 1024;
/** Messages held for a peer that is not connected; beyond this the backlog is dropped. */
export const peerBacklogMessagesMax = 50_000;
/** Redial delays for a peer we are responsible for dialling. */
export const redialDelayMsMin = 50;
export const redialDelayMsMax = 2000;
/** A peer that sends no hello within this time is dropped. */
export const helloTimeoutMs = 5000;
/** A hello is a few bytes; anything larger is not one of ours. */
export const helloBytesMax = 4096;

export interface PeerAddress {
  sid: number;
  host: string;
  port: number;
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
}

interface Hello {
  hello: 'zkts-peer';
  version: number;
  sid: number;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

function encodeFrame(value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

interface Link {
  socket: Socket | null;
  backlog: Buffer[];
  redialTimer: NodeJS.Timeout | null;
  redialDelayMs: number;
}

/**
 * One TCP connection per pair of peers, msgpackr frames, FIFO per pair. As in ZooKeeper the
 * connection dialled by the larger sid is the one kept: here only the larger sid dials, and
 * the smaller one accepts. A broken connection is reported once with onDisconnected; messages
 * sent while no connection exists wait in a bounded backlog.
 */
export class PeerTransport {
  private readonly links = new Map<number, Link>();
  private server: Server | null = null;
  private stopped = false;
  private readonly log: Logger;
  private readonly pending = new Set<Socket>();
  framesDropped = 0;
  framesSent = 0;
  framesReceived = 0;

  constructor(private readonly options: PeerTransportOptions) {
    this.log = options.log.child({ component: 'peer-transport' });
    for (const p of options.peers) {
      if (p.sid === options.self) continue;
      this.links.set(p.sid, { socket: null, backlog: [], redialTimer: null, redialDelayMs: redialDelayMsMin });
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
    const frame = encodeFrame(msg);
    if (link.socket !== null) {
      link.socket.write(frame);
      this.framesSent++;
      return;
    }
    if (link.backlog.length >= peerBacklogMessagesMax) {
      this.log.warn({ peer: to, dropped: link.backlog.length }, 'peer backlog full; dropping it');
      link.backlog = [];
      this.options.onDisconnected(to);
    }
    link.backlog.push(frame);
  }

  /** Closes the connection to a peer (the core gave up on it); it is re-established later. */
  disconnect(peer: number): void {
    const link = this.links.get(peer);
    if (link === undefined) return;
    link.backlog = [];
    if (link.socket !== null) link.socket.destroy();
  }

  private dial(sid: number): void {
    const link = this.links.get(sid)!;
    if (this.stopped || link.socket !== null || link.redialTimer !== null) return;
    const addr = this.options.peers.find((p) => p.sid === sid)!;
    const socket = createConnection({ host: addr.host, port: addr.port });
    socket.setNoDelay(true);
    let established = false;
    socket.once('connect', () => {
      established = true;
      socket.write(encodeFrame({ hello: 'zkts-peer', version: quorumProtocolVersion, sid: this.options.self } satisfies Hello));
      link.redialDelayMs = redialDelayMsMin;
      this.attach(sid, socket);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (!established) this.scheduleRedial(sid);
    });
  }

  private scheduleRedial(sid: number): void {
    const link = this.links.get(sid)!;
    if (this.stopped || link.redialTimer !== null) return;
    link.redialTimer = setTimeout(() => {
      link.redialTimer = null;
      this.dial(sid);
    }, link.redialDelayMs);
    link.redialTimer.unref();
    link.redialDelayMs = Math.min(link.redialDelayMs * 2, redialDelayMsMax);
  }

  /** An incoming connection must introduce itself before anything else. */
  private accept(socket: Socket): void {
    this.pending.add(socket);
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), helloTimeoutMs);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const len = buffered.readUInt32BE(0);
      if (len > helloBytesMax) {
        this.log.warn({ peer: socket.remoteAddress, len }, 'peer hello too large; closing');
        socket.destroy();
        return;
      }
      if (buffered.length < 4 + len) return;
      socket.off('data', onData);
      clearTimeout(timer);
      this.pending.delete(socket);
      const hello = this.decodeHello(buffered.subarray(4, 4 + len));
      if (hello === null || !this.links.has(hello.sid) || hello.sid < this.options.self) {
        this.log.warn({ peer: socket.remoteAddress, hello }, 'refusing peer connection');
        socket.destroy();
        return;
      }
      this.attach(hello.sid, socket, buffered.subarray(4 + len));
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      this.pending.delete(socket);
    });
  }

  private decodeHello(frame: Buffer): Hello | null {
    try {
      const h = packr.unpack(frame) as Hello;
      if (h?.hello !== 'zkts-peer' || typeof h.sid !== 'number') return null;
      if (h.version !== quorumProtocolVersion) {
        this.log.warn({ theirs: h.version, ours: quorumProtocolVersion }, 'peer speaks another protocol version');
        return null;
      }
      return h;
    } catch {
      return null;
    }
  }

  private attach(sid: number, socket: Socket, initial?: Buffer): void {
    const link = this.links.get(sid)!;
    if (link.socket !== null && link.socket !== socket) {
      // A newer connection replaces the old one; what was in flight on it may be lost.
      const old = link.socket;
      link.socket = null;
      old.destroy();
    }
    link.socket = socket;
    const log = this.log.child({ peer: sid });
    log.info('peer connected');
    const decoder = new FrameDecoder(peerFrameBytesMax);
    const onFrames = (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        log.warn({ reason: (err as Error).message }, 'bad peer frame; closing connection');
        socket.destroy();
        return;
      }
      for (const f of frames) this.deliver(sid, f, log, socket);
    };
    socket.on('data', onFrames);
    socket.once('close', () => {
      if (link.socket !== socket) return;
      link.socket = null;
      log.info('peer disconnected');
      this.options.onDisconnected(sid);
      if (this.options.self > sid) this.scheduleRedial(sid);
    });
    const backlog = link.backlog;
    link.backlog = [];
    for (const frame of backlog) socket.write(frame);
    this.framesSent += backlog.length;
    if (initial !== undefined && initial.length > 0) onFrames(initial);
  }

  private deliver(from: number, frame: Buffer, log: Logger, socket: Socket): void {
    let msg: PeerMessage;
    try {
      msg = packr.unpack(frame) as PeerMessage;
    } catch (err) {
      log.warn({ reason: (err as Error).message }, 'undecodable peer frame dropped; closing connection');
      socket.destroy();
      return;
    }
    if (msg === null || typeof msg !== 'object' || typeof (msg as { type?: unknown }).type !== 'string') {
      log.warn('peer frame is not a message; closing connection');
      socket.destroy();
      return;
    }
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

