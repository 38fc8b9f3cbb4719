import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { checkDialerProof, decodeHello, decodeProof, decodeWelcome, HandshakeReader, handshakeBytesMax, type HelloFrame } from '../quorum/peer-handshake.js';
import { helloTimeoutMs } from '../quorum/peer-options.js';
import { scaled } from '../testing/wait.js';
import type { FuzzInput } from './client-cases.js';
import { stepFrame, type HandshakeState, type OpeningPlan } from './peer-opening.js';
import { decodePeerBody, peerTypeOf } from './peer-wire.js';

// Runs one case over one election-port connection: the opening, step by step (waiting for the
// member's welcome or proof where the plan says so, and building each frame from what came back),
// then, with 'probe', a LOOKING notification every member answers once it has taken the
// connection: an answer means the handshake was accepted, a close that it was refused. After an
// accepted handshake come the case's messages and a barrier (the same notification): its answer
// means the member handled everything before it. Every wait is bounded.

export const peerIdleMs = 1500;
const closeWaitMs = 2000;
/** A member's dial older than this is not answered: its handshake timeout (helloTimeoutMs, not scaled) is near. */
const dialFreshMs = helloTimeoutMs - 1000;

export type HandshakeVerdict = 'accepted' | 'refused' | 'unknown';

export interface PeerConnectionOutcome {
  /** Chunks written: the opening's frames, the probe, the messages, the barrier. */
  written: FuzzInput[];
  /** Frames the member sent during the handshake (its welcome, or its hello and proof). */
  received: FuzzInput[];
  /** What the member made of the opening, as far as the fuzzer could see. */
  handshake: HandshakeVerdict;
  /** The member answered the barrier after the messages. */
  answered: boolean;
  /** The member closed (or reset) the connection before the fuzzer ended it. */
  closedByMember: boolean;
  idle: boolean;
  /** No connection: the dial was refused, or no member dialled the fuzzer in time. */
  refused: boolean;
  /** Frames the member sent after the handshake (answers, LEADERINFO to a learner, ...). */
  framesReceived: number;
  /** Answering: the member's proof did not check out against our welcome (a member bug). */
  problems: string[];
}

function newOutcome(): PeerConnectionOutcome {
  return { written: [], received: [], handshake: 'unknown', answered: false, closedByMember: false, idle: false, refused: false, framesReceived: 0, problems: [] };
}

/** One election-port connection: handshake frames read with the handshake module's reader, then peer frames counted. */
export class FuzzPeerSocket {
  private reader: HandshakeReader | null;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  private closedFlag = false;
  private wake: (() => void) | null = null;
  readonly closed: Promise<void>;
  /** When the connection was made (a member's dial goes stale). */
  readonly at = Date.now();

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    this.reader = new HandshakeReader(socket);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.closedFlag = true;
      this.wake?.();
      resolve();
    }));
  }

  /** Connects to `port`; null when the connection is refused (the member is gone). */
  static dial(port: number): Promise<FuzzPeerSocket | null> {
    return new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      const conn = new FuzzPeerSocket(socket);
      socket.once('connect', () => resolve(conn));
      socket.once('close', () => resolve(null));
    });
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** The member closed before we ended our side. */
  get closedByMember(): boolean {
    return this.closedFlag && !this.ended;
  }

  write(chunk: Buffer): void {
    if (!this.closedFlag && chunk.length > 0) this.socket.write(chunk);
  }

  /** The next handshake frame, 'closed' when the member closes first, 'idle' after `ms` of nothing. */
  async handshakeFrame(ms = scaled(peerIdleMs)): Promise<Buffer | 'closed' | 'idle'> {
    const reader = this.reader;
    if (reader === null) throw new Error('the handshake is over on this connection');
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        reader.fail(new Error('idle'));
        resolve();
      }, ms);
    });
    try {
      const frame = await Promise.race([reader.next(), timeout.then(() => null)]);
      return frame ?? 'idle';
    } catch {
      return timedOut ? 'idle' : 'closed';
    } finally {
      clearTimeout(timer);
    }
  }

  /** From here on the member's frames are peer messages: counted, and notifications noticed. */
  startMessages(): void {
    if (this.reader === null) return;
    this.pending = this.reader.detach();
    this.reader = null;
    this.socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.wake?.();
    });
  }

  /** Waits for a notification from the member: 'answered', 'closed', or 'idle' once it stays silent for `ms`. */
  async awaitNotification(outcome: PeerConnectionOutcome, ms = scaled(peerIdleMs)): Promise<'answered' | 'closed' | 'idle'> {
    let deadline = Date.now() + ms;
    for (;;) {
      const before = outcome.framesReceived;
      if (this.takeNotification(outcome)) return 'answered';
      if (outcome.framesReceived > before) deadline = Date.now() + ms;
      if (this.closedFlag) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'idle';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private takeNotification(outcome: PeerConnectionOutcome): boolean {
    let answered = false;
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32BE(0);
      if (this.pending.length < 4 + length) break;
      const body = this.pending.subarray(4, 4 + length);
      this.pending = this.pending.subarray(4 + length);
      outcome.framesReceived++;
      try {
        if (peerTypeOf(decodePeerBody(body)) === 'notification') answered = true;
      } catch {
        // Not ours to judge.
      }
    }
    return answered;
  }

  /** Ends our side, then waits (bounded) for the member to close. */
  async end(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.socket.end();
    }
    const timer = setTimeout(() => this.socket.destroy(), scaled(closeWaitMs));
    await this.closed;
    clearTimeout(timer);
  }

  destroy(): void {
    this.ended = true;
    this.socket.destroy();
  }
}

/**
 * Plays `plan` on `conn`, then (if the member took the connection) sends `messages` and the
 * barrier; `probe` is the LOOKING notification used for both.
 */
export async function runOpening(
  conn: FuzzPeerSocket,
  plan: OpeningPlan,
  state: HandshakeState,
  messages: readonly FuzzInput[],
  probe: FuzzInput,
  outcome: PeerConnectionOutcome = newOutcome(),
): Promise<PeerConnectionOutcome> {
  const send = (input: FuzzInput): void => {
    conn.write(input.bytes);
    outcome.written.push(input);
  };
  let verdict: HandshakeVerdict = 'unknown';
  let unfinished = false;
  for (const step of plan.steps) {
    if (conn.isClosed) break;
    if ('send' in step) {
      const frame = stepFrame(step, state);
      send(frame);
      // A frame the member waits to see the rest of: nothing more can happen but its timeout.
      unfinished = awaitsMore(frame.bytes);
      if (unfinished) break;
      continue;
    }
    const frame = await conn.handshakeFrame();
    if (frame === 'closed') {
      verdict = 'refused';
      break;
    }
    if (frame === 'idle') {
      outcome.idle = true;
      break;
    }
    outcome.received.push({ what: `${step.await} received`, bytes: Buffer.concat([lengthOf(frame), frame]) });
    if (step.await === 'welcome') {
      try {
        state.welcome = decodeWelcome(frame);
      } catch (err) {
        outcome.problems.push(`the member's welcome does not decode: ${(err as Error).message}`);
      }
    } else {
      // The member sent its proof: it took our welcome.
      verdict = 'accepted';
      checkMemberProof(frame, state, outcome);
    }
  }
  const probed = verdict === 'refused' || outcome.idle || unfinished ? verdict : await probeAfter(conn, plan, outcome, send, probe);
  // A member that sent its proof took our welcome, whatever it did next.
  const accepted = verdict === 'accepted' ? verdict : probed;
  outcome.handshake = accepted;
  if (accepted === 'accepted' && !conn.isClosed) {
    for (const m of messages) send(m);
    send({ ...probe, what: 'barrier: a LOOKING notification' });
    const answer = await conn.awaitNotification(outcome);
    outcome.answered = answer === 'answered';
    if (answer === 'idle') outcome.idle = true;
  } else if (!conn.isClosed) {
    // Refused or ended early: the messages still go, in case the member took them after all.
    for (const m of messages) send(m);
  }
  outcome.closedByMember = conn.closedByMember;
  await conn.end();
  outcome.closedByMember ||= conn.closedByMember;
  return outcome;
}

/** Whether a handshake reader given `bytes` waits for more: a length prefix within the limit that the bytes fall short of. */
function awaitsMore(bytes: Buffer): boolean {
  if (bytes.length < 4) return true;
  const length = bytes.readUInt32BE(0);
  return length <= handshakeBytesMax && bytes.length < 4 + length;
}

/** After the opening's steps: whether the member took the connection, as the probe shows. */
async function probeAfter(conn: FuzzPeerSocket, plan: OpeningPlan, outcome: PeerConnectionOutcome, send: (input: FuzzInput) => void, probe: FuzzInput): Promise<HandshakeVerdict> {
  if (plan.then === 'end' || conn.isClosed) return conn.isClosed ? 'refused' : 'unknown';
  conn.startMessages();
  send({ ...probe, what: 'probe: a LOOKING notification' });
  const answer = await conn.awaitNotification(outcome);
  if (answer === 'idle') outcome.idle = true;
  return answer === 'answered' ? 'accepted' : answer === 'closed' ? 'refused' : 'unknown';
}

function checkMemberProof(frame: Buffer, state: HandshakeState, outcome: PeerConnectionOutcome): void {
  if (state.hello === null || state.welcome === null) return;
  try {
    checkDialerProof(state.secret, state.hello, state.welcome, decodeProof(frame));
  } catch (err) {
    outcome.problems.push(`the member's proof does not check out against our welcome: ${(err as Error).message}`);
  }
}

function lengthOf(frame: Buffer): Buffer {
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(frame.length, 0);
  return prefix;
}

/** Dials member port `port` and plays the case; `refused` when the member is gone. */
export async function dialAndRun(port: number, plan: OpeningPlan, state: HandshakeState, messages: readonly FuzzInput[], probe: FuzzInput): Promise<PeerConnectionOutcome> {
  const conn = await FuzzPeerSocket.dial(port);
  if (conn === null) return { ...newOutcome(), refused: true };
  return runOpening(conn, plan, state, messages, probe);
}

/** A member's dial, its hello read. */
export interface MemberDial {
  conn: FuzzPeerSocket;
  helloBytes: Buffer;
  hello: HelloFrame;
}

/**
 * The listener on the election port of the observer every member dials: members' connections
 * wait here, their hellos read, until a case answers one (or they go stale and are dropped).
 */
export class DialInbox {
  private readonly dials = new Map<number, MemberDial[]>();
  private readonly waiters = new Map<number, (() => void)[]>();

  private constructor(private readonly server: Server) {}

  static async start(port: number): Promise<DialInbox> {
    const server = createServer();
    const inbox = new DialInbox(server);
    server.on('connection', (socket) => void inbox.greet(new FuzzPeerSocket(socket)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return inbox;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private async greet(conn: FuzzPeerSocket): Promise<void> {
    const frame = await conn.handshakeFrame(dialFreshMs);
    if (typeof frame === 'string') return conn.destroy();
    let hello: HelloFrame;
    try {
      hello = decodeHello(frame);
    } catch {
      return conn.destroy();
    }
    const queue = this.dials.get(hello.sid) ?? [];
    this.dials.set(hello.sid, queue);
    queue.push({ conn, helloBytes: Buffer.concat([lengthOf(frame), frame]), hello });
    void conn.closed.then(() => {
      const at = queue.findIndex((d) => d.conn === conn);
      if (at >= 0) queue.splice(at, 1);
    });
    for (const w of this.waiters.get(hello.sid)?.splice(0) ?? []) w();
  }

  /** The freshest dial from member `sid` within `ms`, or null; older ones are dropped. */
  async take(sid: number, ms: number): Promise<MemberDial | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const queue = this.dials.get(sid) ?? [];
      while (queue.length > 0) {
        const dial = queue.pop()!;
        if (!dial.conn.isClosed && Date.now() - dial.conn.at < dialFreshMs) return dial;
        dial.conn.destroy();
      }
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        const waiting = this.waiters.get(sid) ?? [];
        this.waiters.set(sid, waiting);
        waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    for (const queue of this.dials.values()) for (const d of queue) d.conn.destroy();
    this.dials.clear();
    for (const waiting of this.waiters.values()) for (const w of waiting.splice(0)) w();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
