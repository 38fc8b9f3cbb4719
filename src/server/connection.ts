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
import type { Watcher } from '../data/watch-manager.js';
import { loopWork, type SlicedWork } from '../loop-work.js';

/** What a request turns into: a reply frame now, or later, and whether to close after it. */
export interface Outcome {
  frame: Buffer | null;
  close?: string;
}

/** Where a job that finishes later reports its outcome; a second report is ignored. */
export interface Completion {
  finish(outcome: Outcome): void;
}

export interface Job {
  /** Writes may start while earlier requests are pending; reads wait for everything before them. */
  write: boolean;
  /**
   * The outcome now, or null when it comes later through `done` (which may also be called
   * before start returns). A callback, not a promise: a write at tens of thousands a second
   * costs no promise, and its reply is built in the apply loop's slice, not after it.
   */
  start(done: Completion): Outcome | null;
}

/** The server side a connection talks to. */
export interface ConnectionHost {
  readonly log: Logger;
  readonly frameBytesMax: number;
  readonly connectTimeoutMs: number;
  fourLetterWord(word: string, conn: ServerConnection): string | null;
  handshake(conn: ServerConnection, request: ConnectRequest): Promise<ConnectResponse | null>;
  request(conn: ServerConnection, header: RequestHeader, body: JuteReader): Job;
  closed(conn: ServerConnection, reason: string): void;
  countReceived(): void;
  countSent(latencyMs: number | null): void;
}

/** A request in a connection's queue; the Completion its job reports to. */
class Entry implements Completion {
  started = false;
  /** Started, and its outcome not yet reported. */
  waiting = false;
  outcome: Outcome | null = null;
  readonly receivedAt = Date.now();

  constructor(
    readonly conn: ServerConnection,
    readonly job: Job,
  ) {}

  finish(outcome: Outcome): void {
    this.conn.settle(this, outcome);
  }
}

/**
 * Requests one connection may have queued before we stop reading from it (the rest wait in
 * the kernel's socket buffer). Every queued request is a few live objects, which each
 * young-generation GC copies, and a connection that always has hundreds queued keeps the
 * server saturated. Measured with one client keeping 2000 creates in flight, 1M znodes
 * loaded (bench:server-storage): 256 gave getData p99 5.3-6.5 ms (scavenge survivors ~230
 * KB, p90 pause 2.0 ms); 64 gave 4.1-6.3 ms, median 4.9 (~130 KB, 1.3 ms), the probe's p50
 * halved, at the same load rate (~30k creates/s: a group commit of 64 txns on this disk
 * takes well under a millisecond).
 * Many connections still fill a group commit between them.
 */
export const connectionQueueMax = 64;
/**
 * A read of at most this many frames (an interactive client) is handled at once; a longer
 * run (a pipelining client) waits, reading paused, for turns of `loopWork`.
 */
export const inlineFramesMax = 4;

const fourLetterCodes = new Map<number, string>();
for (const w of ['ruok', 'srvr', 'stat', 'conf', 'cons', 'envi', 'mntr', 'wchs', 'wchc', 'wchp', 'dump', 'isro', 'dirs', 'srst', 'crst', 'gtmk', 'stmk', 'hash']) {
  fourLetterCodes.set(Buffer.from(w, 'latin1').readInt32BE(0), w);
}
fourLetterCodes.set(0xfff4fffd | 0, 'telnet close');

let connectionCounter = 0;

/**
 * One client connection: frames, the handshake, per-connection FIFO of replies,
 * notifications. It knows the wire, not what the requests mean.
 */
export class ServerConnection implements Watcher, SlicedWork {
  readonly id = ++connectionCounter;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly log: Logger;
  readonly established = Date.now();
  sessionId = 0n;
  sessionTimeout = 0;
  /** Set when the client sent closeSession: its own reply closes it, not the apply. */
  closeRequested = false;
  /** The ids this connection holds: its ip, plus what auth packets added. */
  private ids: readonly Id[];
  /** Whether the client sent the optional readOnly byte (we mirror it). */
  private decoder: FrameDecoder;
  private state: 'new' | 'handshake' | 'open' | 'closed' = 'new';
  private backlog: Buffer[] = [];
  private queue: Entry[] = [];
  /** Entries at the head of the queue that have started. */
  private startedCount = 0;
  /** Started entries still waiting for their outcome. */
  private inProgress = 0;
  private connectTimer: NodeJS.Timeout | null;
  lastCxid = -1;
  lastZxid = 0n;
  packetsReceived = 0;
  packetsSent = 0;
  lastOp = 'NA';
  lastLatencyMs = 0;
  minLatencyMs = Number.MAX_SAFE_INTEGER;
  maxLatencyMs = 0;
  totalLatencyMs = 0;
  lastResponseAt = 0;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? 'unknown');
    this.remotePort = socket.remotePort ?? 0;
    this.log = host.log.child({ conn: this.id, peer: `${this.remoteAddress}:${this.remotePort}` });
    this.ids = Object.freeze([{ scheme: 'ip', id: this.remoteAddress }]);
    this.decoder = new FrameDecoder(host.frameBytesMax);
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

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'new' && this.decoder.pendingBytes === 0 && chunk.length >= 4 && this.tryFourLetterWord(chunk)) return;
      const frames = this.decoder.push(chunk);
      if (this.inputBacklog.length > 0) {
        for (const frame of frames) this.inputBacklog.push(frame);
      } else if (frames.length <= inlineFramesMax) {
        for (const frame of frames) {
          this.onFrame(frame);
          if (!this.isOpen) return;
        }
        if (frames.length > 0) loopWork.shortenNextTurn();
      } else {
        this.inputBacklog = frames;
        this.socket.pause();
        loopWork.schedule(this);
      }
    } catch (err) {
      this.refuse(err);
    }
  }

  /**
   * Frames read but not yet handled, from `backlogHead` on: a client with thousands of
   * requests in flight hands over hundreds of KiB in one read, and handling it all at once
   * kept every other connection waiting for tens of milliseconds. Handled in turns of
   * `loopWork`, reading paused.
   */
  private inputBacklog: Buffer[] = [];
  private backlogHead = 0;

  /** Handles backlog frames until `deadline` (LoopWork); true when some are left. */
  runSlice(deadline: number): boolean {
    if (this.state === 'closed') return false;
    const frames = this.inputBacklog;
    let i = this.backlogHead;
    try {
      while (i < frames.length) {
        this.onFrame(frames[i++]!);
        if (!this.isOpen) return false;
        if ((i & 3) === 0 && performance.now() >= deadline) break;
      }
    } catch (err) {
      this.refuse(err);
      return false;
    }
    if (i < frames.length) {
      this.backlogHead = i;
      return true;
    }
    this.inputBacklog = [];
    this.backlogHead = 0;
    this.resumeReading();
    return false;
  }

  /** Reads again unless frames wait, the request queue is full, or a handshake is running. */
  private resumeReading(): void {
    if (this.state !== 'open' || this.inputBacklog.length > 0 || this.queue.length >= connectionQueueMax) return;
    if (this.socket.isPaused()) this.socket.resume();
  }

  /** Bad bytes from the network: log why and close this one connection. */
  private refuse(err: unknown): void {
    const reason = err instanceof ProtocolError ? err.message : `internal error: ${(err as Error).message}`;
    if (!(err instanceof ProtocolError)) this.log.error({ err }, 'request handling failed');
    this.log.warn({ reason }, 'closing connection after bad input');
    this.close(reason);
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
      this.backlog.push(frame);
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
    let request: ConnectRequest;
    try {
      request = ConnectRequestCodec.read(new JuteReader(frame, 0, this.host.frameBytesMax));
    } catch (err) {
      this.refuse(err);
      return;
    }
    let response: ConnectResponse | null;
    try {
      response = await this.host.handshake(this, request);
    } catch (err) {
      this.refuse(err);
      return;
    }
    if (this.state === 'closed') return;
    if (response === null) {
      this.close('connection refused during handshake');
      return;
    }
    const w = new JuteWriter(64);
    ConnectResponseCodec.write(w, response);
    this.socket.write(w.frame());
    if (response.timeOut <= 0) {
      this.close('invalid session');
      return;
    }
    this.state = 'open';
    const backlog = this.backlog;
    this.backlog = [];
    try {
      for (const f of backlog) this.onRequestFrame(f);
    } catch (err) {
      this.refuse(err);
      return;
    }
    this.resumeReading();
  }

  private onRequestFrame(frame: Buffer): void {
    if (this.state !== 'open') return;
    this.host.countReceived();
    this.packetsReceived++;
    const reader = new JuteReader(frame, 0, this.host.frameBytesMax * 2);
    const header = RequestHeaderCodec.read(reader);
    if (header.xid !== Xid.ping && header.xid !== Xid.auth) this.lastCxid = header.xid;
    let job: Job;
    try {
      job = this.host.request(this, header, reader);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // A well-framed packet whose record does not decode: answer MARSHALLINGERROR, then close.
      this.log.warn({ xid: header.xid, type: header.type, reason: err.message }, 'undecodable request; closing connection');
      const outcome: Outcome = { frame: replyFrame(header.xid, this.lastZxid, ErrorCode.MARSHALLINGERROR), close: err.message };
      job = { write: false, start: () => outcome };
    }
    this.queue.push(new Entry(this, job));
    if (this.queue.length >= connectionQueueMax) this.socket.pause();
    this.pump();
  }

  /**
   * Starts what may start, then sends every finished reply at the head, in order. Started
   * entries are always a prefix of the queue (a read that must wait stops the loop), so this
   * looks only at the entries after it: a full queue of writes costs O(1) per completion.
   */
  private pump(): void {
    // A job may finish while another starts (a sink that reports at once): its report asks
    // for another round instead of running one inside this one.
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.startedCount < this.queue.length) {
          const entry = this.queue[this.startedCount]!;
          // A read waits for everything before it.
          if (!entry.job.write && this.inProgress > 0) break;
          this.startedCount++;
          this.startEntry(entry);
          if (this.state === 'closed') return;
        }
        this.flush();
      } while (this.pumpAgain && this.state !== 'closed');
    } finally {
      this.pumping = false;
    }
  }

  private pumping = false;
  private pumpAgain = false;

  private startEntry(entry: Entry): void {
    entry.started = true;
    let result: Outcome | null;
    try {
      result = entry.job.start(entry);
    } catch (err) {
      this.refuse(err);
      return;
    }
    if (result !== null) {
      entry.outcome ??= result;
    } else if (entry.outcome === null) {
      entry.waiting = true;
      this.inProgress++;
    }
  }

  /** A job's later outcome (Entry.finish). */
  settle(entry: Entry, outcome: Outcome): void {
    if (this.state === 'closed' || entry.outcome !== null) return;
    entry.outcome = outcome;
    if (!entry.waiting) return; // reported inside start: the pump that started it sends it
    entry.waiting = false;
    this.inProgress--;
    // Called from the committer's apply loop: whatever goes wrong with this connection's
    // replies closes this connection, and the loop goes on to the next txn.
    try {
      this.pump();
    } catch (err) {
      this.refuse(err);
    }
  }

  /**
   * Replies finished in one go (a run of commits, a burst of reads) leave in one writev: the
   * socket stays corked until the current batch of callbacks is done. A connection with more
   * requests queued (a pipelining client) stays corked, inside turns of loopWork, until that
   * work runs out or a few turns have passed: one writev for many replies instead of one a
   * turn (each also wakes the client).
   */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
  }

  private scheduleUncork(): void {
    if (!this.corked) return;
    const batching = loopWork.inTurn && (this.queue.length > 0 || this.backlogHead < this.inputBacklog.length);
    if (batching) {
      if (!this.uncorkDeferred) {
        this.uncorkDeferred = true;
        loopWork.afterWork(this.uncork);
      }
    } else if (!this.uncorkOnTick) {
      this.uncorkOnTick = true;
      process.nextTick(this.uncork);
    }
  }

  private readonly uncork = (): void => {
    this.uncorkDeferred = false;
    this.uncorkOnTick = false;
    if (!this.corked) return;
    this.corked = false;
    if (this.state !== 'closed') this.socket.uncork();
  };

  private corked = false;
  private uncorkDeferred = false;
  private uncorkOnTick = false;

  private flush(): void {
    if (this.state === 'closed') return;
    this.cork();
    while (this.queue.length > 0 && this.queue[0]!.outcome !== null) {
      const entry = this.queue.shift()!;
      this.startedCount--;
      const outcome = entry.outcome!;
      if (outcome.frame !== null) {
        this.socket.write(outcome.frame);
        const latency = Date.now() - entry.receivedAt;
        this.recordLatency(latency);
      }
      if (outcome.close !== undefined) {
        this.uncork();
        this.close(outcome.close, true);
        return;
      }
    }
    this.resumeReading();
    // A read queued behind a write that just finished may start now.
    if (this.queue.length > 0 && this.startedCount === 0) this.pump();
    this.scheduleUncork();
  }

  private recordLatency(latency: number): void {
    this.packetsSent++;
    this.lastLatencyMs = latency;
    this.totalLatencyMs += latency;
    if (latency < this.minLatencyMs) this.minLatencyMs = latency;
    if (latency > this.maxLatencyMs) this.maxLatencyMs = latency;
    this.lastResponseAt = Date.now();
    this.host.countSent(latency);
  }

  /** Sends a watch notification (xid -1, zxid -1, as ZooKeeper 3.8 does). */
  notify(event: WatcherEvent): void {
    if (this.state !== 'open') return;
    const w = new JuteWriter(64);
    ReplyHeaderCodec.write(w, { xid: Xid.notification, zxid: -1n, err: 0 });
    WatcherEventCodec.write(w, event);
    this.socket.write(w.frame());
    this.packetsSent++;
    this.host.countSent(null);
  }

  /** Closes the socket; graceful lets queued bytes drain first. */
  close(reason: string, graceful = false): void {
    if (this.state === 'closed') {
      return;
    }
    this.state = 'closed';
    this.clearConnectTimer();
    this.queue = [];
    this.startedCount = 0;
    this.inProgress = 0;
    this.backlog = [];
    this.inputBacklog = [];
    this.backlogHead = 0;
    if (graceful) {
      // Reading again (what arrives is dropped: the state is closed) lets the client's FIN in;
      // a paused socket would never see it, so it would never close and its server never stop.
      this.socket.end();
      this.socket.resume();
    } else {
      this.socket.destroy();
    }
    this.log.debug({ reason, session: this.sessionId === 0n ? undefined : '0x' + this.sessionId.toString(16) }, 'connection closed');
    this.host.closed(this, reason);
  }
}

function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

/** One reply frame: header, then the body when err is 0. */
export function replyFrame(xid: number, zxid: bigint, err: number, body?: (w: JuteWriter) => void): Buffer {
  const w = new JuteWriter(128);
  ReplyHeaderCodec.write(w, { xid, zxid, err });
  if (err === 0 && body !== undefined) body(w);
  return w.frame();
}
