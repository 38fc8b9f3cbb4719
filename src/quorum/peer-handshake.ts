import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { quorumProtocolVersion } from './messages.js';

/**
 * How two members introduce themselves on a new peer connection, before any peer message:
 *
 *   dialer → acceptor   hello    {hello, version, sid, nonce}
 *   acceptor → dialer   welcome  {welcome, version, sid, nonce, proof}
 *   dialer → acceptor   proof    {proof}
 *
 * With a shared secret each proof is an HMAC over both ids and both fresh nonces, labelled by
 * the side that computes it, so neither side's proof can be replayed, reflected or reused for
 * another id; without one the proofs are empty. The acceptor only takes the connection as
 * the link to that peer once the last frame checks out, so an unproven hello never replaces
 * a live link.
 */

/** A handshake frame is a few dozen bytes; anything larger is not one of ours. */
export const handshakeBytesMax = 4096;
export const nonceBytes = 32;
const tag = 'zkts-peer';
const proofLabel = 'zkts peer handshake v2';

export interface HelloFrame {
  readonly hello: typeof tag;
  readonly version: number;
  readonly sid: number;
  readonly nonce: Uint8Array;
}

export interface WelcomeFrame {
  readonly welcome: typeof tag;
  readonly version: number;
  readonly sid: number;
  readonly nonce: Uint8Array;
  readonly proof: Uint8Array;
}

export interface ProofFrame {
  readonly proof: Uint8Array;
}

/** A peer connection turned away during the handshake; the message says why, for the log. */
export class HandshakeRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeRefused';
  }
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

export function encodeHandshakeFrame(value: HelloFrame | WelcomeFrame | ProofFrame): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

function decode(frame: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = packr.unpack(frame);
  } catch (err) {
    throw new HandshakeRefused(`${what} does not decode: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HandshakeRefused(`${what} is not a handshake record`);
  return value as Record<string, unknown>;
}

function checkIdentity(record: Record<string, unknown>, what: string): { version: number; sid: number; nonce: Uint8Array } {
  const { version, sid, nonce } = record;
  if (typeof version !== 'number' || typeof sid !== 'number' || !Number.isInteger(sid) || sid < 0 || sid > 255) {
    throw new HandshakeRefused(`${what} has no valid version and server id`);
  }
  if (version !== quorumProtocolVersion) {
    throw new HandshakeRefused(`${what} speaks quorum protocol version ${version}; this server speaks ${quorumProtocolVersion}`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== nonceBytes) throw new HandshakeRefused(`${what} has no ${nonceBytes}-byte nonce`);
  return { version, sid, nonce };
}

export function decodeHello(frame: Buffer): HelloFrame {
  const record = decode(frame, 'hello');
  if (record.hello !== tag) throw new HandshakeRefused('the first frame is not a zkts peer hello');
  return { hello: tag, ...checkIdentity(record, 'hello') };
}

export function decodeWelcome(frame: Buffer): WelcomeFrame {
  const record = decode(frame, 'welcome');
  if (record.welcome !== tag) throw new HandshakeRefused('the answer to our hello is not a zkts peer welcome');
  if (!(record.proof instanceof Uint8Array)) throw new HandshakeRefused('welcome has no proof');
  return { welcome: tag, ...checkIdentity(record, 'welcome'), proof: record.proof };
}

export function decodeProof(frame: Buffer): ProofFrame {
  const record = decode(frame, 'proof');
  if (!(record.proof instanceof Uint8Array)) throw new HandshakeRefused('the frame after our welcome is not a proof');
  return { proof: record.proof };
}

export function newNonce(): Uint8Array {
  return randomBytes(nonceBytes);
}

export type ProofSide = 'dialer' | 'acceptor';

/** What `side` sends to show it holds the secret; empty when there is no secret. */
export function handshakeProof(
  secret: Uint8Array | null,
  side: ProofSide,
  ids: { dialer: number; acceptor: number },
  nonces: { dialer: Uint8Array; acceptor: Uint8Array },
): Uint8Array {
  if (secret === null) return new Uint8Array(0);
  const hmac = createHmac('sha256', secret);
  hmac.update(`${proofLabel}\0${side}\0${ids.dialer}\0${ids.acceptor}\0`);
  hmac.update(nonces.dialer);
  hmac.update(nonces.acceptor);
  return hmac.digest();
}

/** Constant-time comparison; proofs of another length never match. */
export function proofMatches(expected: Uint8Array, received: Uint8Array): boolean {
  if (expected.length !== received.length) return false;
  return expected.length === 0 || timingSafeEqual(expected, received);
}

/** An address as the socket layer reports it, with IPv4-mapped IPv6 turned back into IPv4. */
export function normaliseAddress(address: string | undefined): string {
  if (address === undefined) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return (mapped?.[1] ?? address).toLowerCase();
}

/** Every address a `server.N` host names (literal or resolved), normalised. */
export async function resolveAddresses(host: string): Promise<string[]> {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((a) => normaliseAddress(a.address));
}

/**
 * Reads whole length-prefixed frames off a socket during the handshake. `detach` hands back
 * whatever arrived after the last frame read, so the peer's first messages are not lost when
 * the link takes the socket over (in the same tick: a flowing socket drops data nobody hears).
 */
export class HandshakeReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (frame: Buffer) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.settle();
  };
  private readonly onClose = (): void => this.fail(new HandshakeRefused('connection closed during the handshake'));

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.once('close', this.onClose);
  }

  next(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.settle();
    });
  }

  fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    this.settle();
  }

  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    return this.buffered;
  }

  private settle(): void {
    const waiting = this.waiting;
    if (waiting === null) return;
    if (this.buffered.length >= 4) {
      const length = this.buffered.readUInt32BE(0);
      if (length > handshakeBytesMax) {
        this.waiting = null;
        return waiting.reject(new HandshakeRefused(`handshake frame of ${length} bytes, more than ${handshakeBytesMax}`));
      }
      if (this.buffered.length >= 4 + length) {
        this.waiting = null;
        const frame = this.buffered.subarray(4, 4 + length);
        this.buffered = this.buffered.subarray(4 + length);
        return waiting.resolve(frame);
      }
    }
    if (this.failure !== null) {
      this.waiting = null;
      waiting.reject(this.failure);
    }
  }
}
