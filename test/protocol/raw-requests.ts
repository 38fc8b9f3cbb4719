// Client-port requests as raw bytes, and a raw session that sends them: for tests of what a
// server answers to requests no well-behaved client sends (null ACL schemes, bad modes, ...).
// Used against zkts in process, zkts processes and Apache ZooKeeper alike.
import net from 'node:net';
import { JuteWriter } from '../../src/protocol/jute.js';
import { FrameDecoder } from '../../src/protocol/framing.js';
import { OpCode } from '../../src/protocol/constants.js';
import { waitFor } from '../../src/testing/wait.js';

/** An ACL entry whose fields may be anything jute can carry, nulls included. */
export interface RawAcl {
  perms: number;
  scheme: string | null;
  id: string | null;
}

export const openAcl: RawAcl[] = [{ perms: 31, scheme: 'world', id: 'anyone' }];

/** A jute ustring field, or null (length -1), or raw bytes (for text that is not UTF-8). */
export type RawString = string | null | Buffer;

function string(w: JuteWriter, v: RawString): void {
  if (Buffer.isBuffer(v)) w.int(v.length).raw(v);
  else w.string(v);
}

function aclList(w: JuteWriter, acl: readonly RawAcl[] | null): void {
  if (acl === null) {
    w.int(-1);
    return;
  }
  w.int(acl.length);
  for (const a of acl) {
    w.int(a.perms);
    w.string(a.scheme);
    w.string(a.id);
  }
}

export interface RawCreate {
  path: RawString;
  data?: Buffer | null;
  acl?: readonly RawAcl[] | null;
  flags?: number;
  /** Written (as createTTL's last field) when given. */
  ttl?: bigint;
}

/** A CreateRequest (or CreateTTLRequest when `ttl` is given) body. */
export function createBody(c: RawCreate): Buffer {
  const w = new JuteWriter();
  writeCreate(w, c);
  return Buffer.from(w.bytes());
}

function writeCreate(w: JuteWriter, c: RawCreate): void {
  string(w, c.path);
  w.buffer(c.data === undefined ? null : c.data);
  aclList(w, c.acl === undefined ? openAcl : c.acl);
  w.int(c.flags ?? 0);
  if (c.ttl !== undefined) w.long(c.ttl);
}

export function pathBody(path: RawString, ...ints: number[]): Buffer {
  const w = new JuteWriter();
  string(w, path);
  for (const i of ints) w.int(i);
  return Buffer.from(w.bytes());
}

export function setDataBody(path: RawString, data: Buffer | null, version = -1): Buffer {
  const w = new JuteWriter();
  string(w, path);
  w.buffer(data);
  w.int(version);
  return Buffer.from(w.bytes());
}

export function setAclBody(path: RawString, acl: readonly RawAcl[] | null, version = -1): Buffer {
  const w = new JuteWriter();
  string(w, path);
  aclList(w, acl);
  w.int(version);
  return Buffer.from(w.bytes());
}

/** A PathWatchRequest (exists, getData, getChildren) body. */
export function pathWatchBody(path: RawString, watch = false): Buffer {
  const w = new JuteWriter();
  string(w, path);
  w.bool(watch);
  return Buffer.from(w.bytes());
}

export type RawMultiOp =
  | { type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer | typeof OpCode.createTTL; create: RawCreate }
  | { type: typeof OpCode.delete | typeof OpCode.check; path: RawString; version?: number }
  | { type: typeof OpCode.setData; path: RawString; data: Buffer | null; version?: number };

export function multiBody(ops: readonly RawMultiOp[]): Buffer {
  const w = new JuteWriter();
  for (const op of ops) {
    w.int(op.type).bool(false).int(-1);
    if ('create' in op) writeCreate(w, op.create);
    else if (op.type === OpCode.setData) {
      string(w, op.path);
      w.buffer(op.data);
      w.int(op.version ?? -1);
    } else {
      string(w, op.path);
      w.int(op.version ?? -1);
    }
  }
  w.int(-1).bool(true).int(-1);
  return Buffer.from(w.bytes());
}

/** SetWatches / SetWatches2 with lists that may be null. */
export function setWatchesBody(relativeZxid: bigint, lists: (readonly string[] | null)[]): Buffer {
  const w = new JuteWriter();
  w.long(relativeZxid);
  for (const list of lists) w.stringVector(list);
  return Buffer.from(w.bytes());
}

export function reconfigBody(joining: string | null, leaving: string | null, members: string | null, configId = -1n): Buffer {
  const w = new JuteWriter();
  w.string(joining).string(leaving).string(members).long(configId);
  return Buffer.from(w.bytes());
}

/** The bytes of one request frame: length, xid, opcode, body. */
export function requestFrame(xid: number, opcode: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(12);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(xid, 4);
  header.writeInt32BE(opcode, 8);
  return Buffer.concat([header, body]);
}

/** A ConnectRequest for a new session (30 s, no password, readOnly false). */
export function connectFrame(): Buffer {
  const w = new JuteWriter();
  w.int(0).long(0n).int(30_000).long(0n).buffer(Buffer.alloc(16)).bool(false);
  return w.frame();
}

export interface RawReply {
  xid: number;
  zxid: bigint;
  err: number;
  body: Buffer;
}

/** A multi reply's results: [type, err] for each op. */
export function multiResults(body: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let p = 0;
  for (;;) {
    const type = body.readInt32BE(p);
    const done = body[p + 4] !== 0;
    const err = body.readInt32BE(p + 5);
    p += 9;
    if (done) return out;
    out.push([type, err]);
    // Only error results (an int) are expected here.
    if (type !== -1) throw new Error(`multi result of type ${type}: only error results are parsed`);
    p += 4;
  }
}

/** One session on a raw socket: requests go out as given, replies are collected by xid. */
export class RawSession {
  readonly replies: RawReply[] = [];
  closed = false;
  sessionId = 0n;
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  private handshakeDone = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) {
        if (!this.handshakeDone) {
          this.handshakeDone = true;
          this.sessionId = frame.readBigInt64BE(8);
          continue;
        }
        this.replies.push({ xid: frame.readInt32BE(0), zxid: frame.readBigInt64BE(4), err: frame.readInt32BE(12), body: frame.subarray(16) });
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => (this.closed = true));
  }

  /**
   * A new session. A server that is still starting may close a connection before it answers
   * (ZooKeeper does, while it loads its database): then it tries again, within the deadline.
   */
  static async open(port: number, host = '127.0.0.1'): Promise<RawSession> {
    return waitFor('a session on a raw connection', () => RawSession.tryOpen(port, host), { timeoutMs: 30_000, intervalMs: 100 });
  }

  private static async tryOpen(port: number, host: string): Promise<RawSession | undefined> {
    const socket = net.connect(port, host);
    const session = new RawSession(socket);
    socket.write(connectFrame());
    await waitFor('the ConnectResponse or a close', () => session.handshakeDone || session.closed, { timeoutMs: 15_000 });
    if (session.handshakeDone) return session;
    socket.destroy();
    return undefined;
  }

  private nextXid = 1;

  /** Sends one request; resolves with its reply, or 'closed' when the server closes first. */
  async call(opcode: number, body: Buffer = Buffer.alloc(0)): Promise<RawReply | 'closed'> {
    const xid = this.nextXid++;
    this.socket.write(requestFrame(xid, opcode, body));
    const reply = await waitFor(`the reply to xid ${xid} (opcode ${opcode})`, () => this.replies.find((r) => r.xid === xid) ?? (this.closed ? ('closed' as const) : undefined), { timeoutMs: 15_000 });
    return reply;
  }

  /** call, for a request that must be answered. */
  async answer(opcode: number, body: Buffer = Buffer.alloc(0)): Promise<RawReply> {
    const reply = await this.call(opcode, body);
    if (reply === 'closed') throw new Error(`the server closed the connection instead of answering opcode ${opcode}`);
    return reply;
  }

  /** The zxid the server reports now (an exists of "/" answers with its last zxid). */
  async lastZxid(): Promise<bigint> {
    return (await this.answer(OpCode.exists, pathWatchBody('/'))).zxid;
  }

  /** Whether the server closes this connection (it answers a ping while it keeps it). */
  async closedByServer(): Promise<boolean> {
    if (this.closed) return true;
    this.socket.write(requestFrame(-2, OpCode.ping));
    await waitFor('a ping reply or a close', () => this.closed || this.replies.some((r) => r.xid === -2), { timeoutMs: 15_000 });
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
