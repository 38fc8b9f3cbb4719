import type { Socket } from 'node:net';
import { ProtocolError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ErrorCode, Xid } from '../protocol/constants.js';
import { FrameDecoder } from '../protocol/framing.js';
import { JuteWriter, JuteReader } from '../protocol/jute.js';
import {
  ConnectRequestCodec,
  ConnectResponseCodec,
  ReplyHeaderCodec,
  RequestHeaderCodec,
  WatcherEventCodec,
  type ConnectRequest,
  type ConnectResponse,
  type Id,
  type RequestHeader,
  type WatcherEvent,
} from '../protocol/records.js';
import { knownFourLetterWords } from '../config/config.js';
import type { Watcher } from '../data/watch-manager.js';
import { hex } from '../logger.js';
import { loopWork, type SlicedWork } from '../loop-work.js';
import type { OutstandingLimit, ThrottledReader } from './outstanding-limit.js';
import { normalizeAddress } from './client-port.js';
import { ReplyWriter } from './reply-writer.js';
import { RequestQueue, type Job, type Outcome, type ReplyOutlet } from './request-queue.js';
import { ConnectionStats } from './stats.js';

export type { Completion, Job, Outcome } from './request-queue.js';

/** The server side a connection talks to. */
export interface ConnectionHost {
  readonly log: Logger;
  readonly frameBytesMax: number;
  readonly connectTimeoutMs: number;
  /** globalOutstandingLimit: the requests all connections together may hold. */
  readonly requestLimit: OutstandingLimit;
  fourLetterWord(word: string, conn: ServerConnection): string | null;
  handshake(conn: ServerConnection, request: ConnectRequest): Promise<ConnectResponse | null>;
  request(conn: ServerConnection, header: RequestHeader, body: JuteReader): Job;
  closed(conn: ServerConnection, reason: string): void;
  countReceived(): void;
  countSent(latencyMs: number | null): void;
}

/**
 * Requests one connection may have queued before we stop reading from it (the rest wait in
 * the kernel's socket buffer). Every queued request is a few live objects, which each
 * young-generation GC copies, and a connection that always has hundreds queued keeps the
 * server saturated; a smaller queue lowered the probe's latency at the same load rate (a
 * group commit of this many txns takes well under a millisecond). Many connections still
 * fill a group commit between them.
 */
export const connectionQueueMax = 64;
/**
 * A read of at most this many frames (an interactive client) is handled at once; a longer
 * run (a pipelining client) waits, reading paused, for turns of `loopWork`.
 */
export const inlineFramesMax = 4;

const fourLetterCodes = new Map<number, string>();
for (const w of knownFourLetterWords) fourLetterCodes.set(Buffer.from(w, 'latin1').readInt32BE(0), w);
fourLetterCodes.set(0xfff4fffd | 0, 'telnet close');

let connectionCounter = 0;

/**
 * One client connection: frames, the handshake, the request queue (per-connection FIFO of
 * replies), notifications, and flow control (its own queue limit and the server's
 * globalOutstandingLimit). It knows the wire, not what the requests mean.
 */
export class ServerConnection implements Watcher, SlicedWork, ReplyOutlet, ThrottledReader {
  readonly id = ++connectionCounter;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly log: Logger;
  readonly stats = new ConnectionStats();
  sessionId = 0n;
  sessionTimeout = 0;
  /** Set when the client sent closeSession: its own reply closes it, not the apply. */
  closeRequested = false;
  /** The ids this connection holds: its ip, its certificate's, plus what auth packets added. */
  private ids: readonly Id[];
  private readonly decoder: FrameDecoder;
  private readonly queue: RequestQueue;
  private state: 'new' | 'handshake' | 'open' | 'closed' = 'new';
  /** Frames that arrived while the handshake was running. */
  private handshakeBacklog: Buffer[] = [];
  /**
   * Frames read but not yet handled, from `inputHead` on: a client with thousands of
   * requests in flight hands over hundreds of KiB in one read, and handling it all at once
   * kept every other connection waiting for tens of milliseconds. Handled in turns of
   * `loopWork`, reading paused; left alone while the server is at its outstanding limit.
   */
  private inputBacklog: Buffer[] = [];
  private inputHead = 0;
  private readonly replies: ReplyWriter;
  private connectTimer: NodeJS.Timeout | null;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    /** Ids proved before the first packet: a verified TLS client certificate's. */
    provedIds: readonly Id[] = [],
  ) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? 'unknown');
    this.remotePort = socket.remotePort ?? 0;
    this.log = host.log.child({ conn: this.id, peer: `${this.remoteAddress}:${this.remotePort}` });
    this.ids = Object.freeze([{ scheme: 'ip', id: this.remoteAddress }, ...provedIds]);
    this.decoder = new FrameDecoder(host.frameBytesMax);
    this.queue = new RequestQueue(this, host.requestLimit);
    this.replies = new ReplyWriter(socket, () => this.isOpen);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close(`socket error: ${err.message}`));
    socket.on('close', () => this.close('closed by peer'));
    this.connectTimer = setTimeout(() => this.close('no ConnectRequest in time'), host.connectTimeoutMs);
    this.connectTimer.unref();
  }

  /**
   * The ids this connection holds: its ip, plus what auth packets added. Never changed in
   * place (an auth replaces the list), so a write takes it as it is now without a copy.
   */
  get authIds(): readonly Id[] {
    return this.ids;
  }

  addAuthId(id: Id): void {
    this.ids = Object.freeze([...this.ids, id]);
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  get queuedRequests(): number {
    return this.queue.length;
  }

  /** Whether reading from the socket is paused (a full queue, a backlog, the outstanding limit). */
  get readingPaused(): boolean {
    return this.socket.isPaused();
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'new' && this.decoder.pendingBytes === 0 && chunk.length >= 4 && this.tryFourLetterWord(chunk)) return;
      const frames = this.decoder.push(chunk);
      if (this.inputBacklog.length > 0) {
        for (const frame of frames) this.inputBacklog.push(frame);
      } else if (frames.length <= inlineFramesMax && !this.host.requestLimit.reached) {
        this.handleInline(frames);
      } else {
        this.holdBack(frames, 0);
      }
    } catch (err) {
      this.failed(err);
    }
  }

  /** An interactive client's few frames: handled now, and the next turn is kept short. */
  private handleInline(frames: Buffer[]): void {
    for (let i = 0; i < frames.length; i++) {
      if (this.host.requestLimit.reached && this.state === 'open') return this.holdBack(frames, i);
      this.onFrame(frames[i]!);
      if (!this.isOpen) return;
    }
    if (frames.length > 0) loopWork.shortenNextTurn();
  }

  /** Frames from `from` on wait in the backlog, reading paused, for a turn or for the limit to fall. */
  private holdBack(frames: Buffer[], from: number): void {
    this.inputBacklog = from === 0 ? frames : frames.slice(from);
    this.inputHead = 0;
    this.socket.pause();
    if (this.host.requestLimit.reached) this.host.requestLimit.park(this);
    else loopWork.schedule(this);
  }

  /** Handles backlog frames until `deadline` (LoopWork); true when some are left for a later turn. */
  runSlice(deadline: number): boolean {
    if (this.state === 'closed') return false;
    const frames = this.inputBacklog;
    let i = this.inputHead;
    try {
      while (i < frames.length) {
        if (this.host.requestLimit.reached && this.state === 'open') {
          this.inputHead = i;
          this.host.requestLimit.park(this);
          return false;
        }
        this.onFrame(frames[i++]!);
        if (!this.isOpen) return false;
        if ((i & 3) === 0 && performance.now() >= deadline) break;
      }
    } catch (err) {
      this.failed(err);
      return false;
    }
    if (i < frames.length) {
      this.inputHead = i;
      return true;
    }
    this.inputBacklog = [];
    this.inputHead = 0;
    this.resumeReading();
    return false;
  }

  /** The server fell below its outstanding limit (OutstandingLimit woke us). */
  unthrottled(): void {
    if (this.state === 'closed') return;
    if (this.inputHead < this.inputBacklog.length) loopWork.schedule(this);
    else this.resumeReading();
  }

  /** Reads again unless frames wait, the queue is full, the server is at its limit, or a handshake runs. */
  private resumeReading(): void {
    if (this.state !== 'open' || this.inputBacklog.length > 0 || this.queue.length >= connectionQueueMax) return;
    if (this.host.requestLimit.reached) {
      this.socket.pause();
      this.host.requestLimit.park(this);
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
  }

  private tryFourLetterWord(chunk: Buffer): boolean {
    const word = fourLetterCodes.get(chunk.readInt32BE(0));
    if (word === undefined) return false;
    this.state = 'closed';
    this.clearConnectTimer();
    const text = this.host.fourLetterWord(word, this);
    this.log.debug({ word }, 'four-letter word');
    if (text === null) this.socket.destroy();
    else this.socket.end(text);
    this.host.closed(this, `four-letter word ${word}`);
    return true;
  }

  private onFrame(frame: Buffer): void {
    if (this.state === 'new') {
      this.state = 'handshake';
      this.clearConnectTimer();
      void this.handshake(frame);
      return;
    }
    if (this.state === 'handshake') {
      this.handshakeBacklog.push(frame);
      return;
    }
    if (this.state === 'open') this.onRequestFrame(frame);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private async handshake(frame: Buffer): Promise<void> {
    // Stop reading until the session is ready; bytes already sent wait in the backlog.
    this.socket.pause();
    let response: ConnectResponse | null;
    try {
      const request = ConnectRequestCodec.read(new JuteReader(frame, 0, this.host.frameBytesMax));
      response = await this.host.handshake(this, request);
    } catch (err) {
      this.failed(err);
      return;
    }
    if (this.state === 'closed') return;
    if (response === null) return this.close('connection refused during handshake');
    const w = new JuteWriter(64);
    ConnectResponseCodec.write(w, response);
    this.socket.write(w.frame());
    if (response.timeOut <= 0) return this.close('invalid session');
    this.state = 'open';
    const early = this.handshakeBacklog;
    this.handshakeBacklog = [];
    try {
      for (const f of early) this.onRequestFrame(f);
    } catch (err) {
      this.failed(err);
      return;
    }
    this.resumeReading();
  }

  private onRequestFrame(frame: Buffer): void {
    if (this.state !== 'open') return;
    this.host.countReceived();
    this.stats.packetsReceived++;
    const reader = new JuteReader(frame, 0, this.host.frameBytesMax * 2);
    const header = RequestHeaderCodec.read(reader);
    if (header.xid !== Xid.ping && header.xid !== Xid.auth) this.stats.lastCxid = header.xid;
    let job: Job;
    try {
      job = this.host.request(this, header, reader);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // A well-framed packet whose record does not decode: answer MARSHALLINGERROR, then close.
      this.log.warn({ xid: header.xid, type: header.type, reason: err.message }, 'undecodable request; closing connection');
      const outcome: Outcome = { frame: replyFrame(header.xid, this.stats.lastZxid, ErrorCode.MARSHALLINGERROR), close: err.message };
      job = { write: false, start: () => outcome };
    }
    if (this.queue.length + 1 >= connectionQueueMax) this.socket.pause();
    this.queue.push(job);
  }

  // ---- ReplyOutlet: the request queue's replies, in order ---------------------------------

  send(outcome: Outcome, receivedAt: number): boolean {
    if (outcome.frame !== null) {
      this.replies.write(outcome.frame);
      const latency = Date.now() - receivedAt;
      this.stats.recordReply(latency);
      this.host.countSent(latency);
    }
    if (outcome.close === undefined) return true;
    this.replies.uncork();
    this.close(outcome.close, true);
    return false;
  }

  sent(): void {
    this.resumeReading();
    this.replies.endRound(this.queue.length > 0 || this.inputHead < this.inputBacklog.length);
  }

  /** Bad bytes from the network (or a bug while handling them): log why and close this one connection. */
  failed(err: unknown): void {
    const reason = err instanceof ProtocolError ? err.message : `internal error: ${(err as Error).message}`;
    if (!(err instanceof ProtocolError)) this.log.error({ err }, 'request handling failed');
    this.log.warn({ reason }, 'closing connection after bad input');
    this.close(reason);
  }


  /** Sends a watch notification (xid -1, zxid -1, as ZooKeeper 3.8 does). */
  notify(event: WatcherEvent): void {
    if (this.state !== 'open') return;
    const w = new JuteWriter(64);
    ReplyHeaderCodec.write(w, { xid: Xid.notification, zxid: -1n, err: 0 });
    WatcherEventCodec.write(w, event);
    this.socket.write(w.frame());
    this.stats.packetsSent++;
    this.host.countSent(null);
  }

  /** Closes the socket; graceful lets queued bytes drain first. */
  close(reason: string, graceful = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearConnectTimer();
    this.queue.clear();
    this.host.requestLimit.unpark(this);
    this.handshakeBacklog = [];
    this.inputBacklog = [];
    this.inputHead = 0;
    if (graceful) {
      // Reading again (what arrives is dropped: the state is closed) lets the client's FIN in;
      // a paused socket would never see it, so it would never close and its server never stop.
      this.socket.end();
      this.socket.resume();
    } else {
      this.socket.destroy();
    }
    this.log.debug({ reason, session: this.sessionId === 0n ? undefined : hex(this.sessionId) }, 'connection closed');
    this.host.closed(this, reason);
  }
}


/** Replies are built one at a time, each copied out whole: one writer serves them all. */
const replyScratchBytes = 4096;
/** A reply that grew the writer past this (a large getData) leaves it behind rather than keep its memory. */
const replyScratchBytesMax = 64 * 1024;
let replyScratch = new JuteWriter(replyScratchBytes);

/** One reply frame: header, then the body when err is 0. */
export function replyFrame<T>(xid: number, zxid: bigint, err: number, body?: (w: JuteWriter, value: T) => void, value?: T): Buffer {
  const w = replyScratch;
  w.reset();
  ReplyHeaderCodec.write(w, { xid, zxid, err });
  if (err === 0 && body !== undefined) body(w, value as T);
  const frame = w.frame();
  if (w.capacity > replyScratchBytesMax) replyScratch = new JuteWriter(replyScratchBytes);
  return frame;
}
