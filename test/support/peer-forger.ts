// A hand-driven peer connection for tests that attack the election port: it speaks the
// handshake (hello, welcome, proof) with whatever id, secret or address it is told to, and
// then sends any value as a message frame, including values no real member would send.
import net from 'node:net';
import tls from 'node:tls';
import { Packr } from 'msgpackr';
import { peerWireValue } from '../../src/fuzz/peer-wire.js';
import { quorumProtocolVersion } from '../../src/quorum/messages.js';
import { handshakeProof, newNonce } from '../../src/quorum/peer-handshake.js';
import { scaled } from '../../src/testing/wait.js';

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

export function frameOf(value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

export interface ForgerTls {
  readonly ca: string;
  /** Absent: the forger offers no certificate. */
  readonly key?: string;
  readonly cert?: string;
}

export interface ForgerOptions {
  readonly port: number;
  readonly host?: string;
  /** The address to call from (say 127.0.0.2, which is not any member's). */
  readonly localAddress?: string;
  readonly tls?: ForgerTls;
}

export interface HelloOptions {
  /** Prove this secret (the real one, a wrong one); none: an empty proof. */
  readonly secret?: Uint8Array;
  readonly version?: number;
  /** Messages to send in the same write as the proof, so they arrive with it (nothing can come between). */
  readonly then?: readonly unknown[];
}

/** What the member answered to a hello: its welcome, or that it closed the connection. */
export type HelloOutcome = { readonly welcomed: true; readonly sid: number } | { readonly welcomed: false };

export class PeerForger {
  private received = Buffer.alloc(0);
  private closedFlag = false;
  readonly closed: Promise<void>;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.closedFlag = true;
      this.wake?.();
      resolve();
    }));
  }

  /** Connects (and, with `tls`, finishes the TLS handshake or reports that it failed). */
  static async connect(options: ForgerOptions): Promise<PeerForger> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.tls === undefined
      ? net.connect({ host, port: options.port, localAddress: options.localAddress })
      : tls.connect({
          socket: net.connect({ host, port: options.port, localAddress: options.localAddress }),
          ca: options.tls.ca,
          key: options.tls.key,
          cert: options.tls.cert,
          checkServerIdentity: () => undefined,
        });
    const forger = new PeerForger(socket);
    await new Promise<void>((resolve) => {
      socket.once(options.tls === undefined ? 'connect' : 'secureConnect', () => resolve());
      socket.once('close', () => resolve());
    });
    return forger;
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Any value as a message frame: a message object (valid or not) goes as the wire tuple the fuzzer makes of it. */
  send(value: unknown): void {
    this.sendRaw(frameOf(peerWireValue(value)));
  }

  sendRaw(bytes: Uint8Array): void {
    if (!this.closedFlag) this.socket.write(bytes);
  }

  /** Runs the dialer's side of the handshake as server `sid`. */
  async hello(sid: number, options: HelloOptions = {}): Promise<HelloOutcome> {
    const dialerNonce = newNonce();
    this.sendRaw(frameOf({ hello: 'zkts-peer', version: options.version ?? quorumProtocolVersion, sid, nonce: dialerNonce }));
    const welcome = (await this.nextFrame()) as { sid: number; nonce: Uint8Array } | null;
    if (welcome === null) return { welcomed: false };
    const ids = { dialer: sid, acceptor: welcome.sid };
    const nonces = { dialer: dialerNonce, acceptor: welcome.nonce };
    const proof = frameOf({ proof: handshakeProof(options.secret ?? null, 'dialer', ids, nonces) });
    this.sendRaw(Buffer.concat([proof, ...(options.then ?? []).map((value) => frameOf(peerWireValue(value)))]));
    return { welcomed: true, sid: welcome.sid };
  }

  /** Whether the member closes the connection within the (scaled) time. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), scaled(ms)); });
    const result = await Promise.race([this.closed.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The next whole frame decoded, or null once the connection closes first. */
  private async nextFrame(): Promise<unknown> {
    for (;;) {
      if (this.received.length >= 4) {
        const length = this.received.readUInt32BE(0);
        if (this.received.length >= 4 + length) {
          const body = this.received.subarray(4, 4 + length);
          this.received = this.received.subarray(4 + length);
          return packr.unpack(body);
        }
      }
      if (this.closedFlag) return null;
      await new Promise<void>((resolve) => { this.wake = resolve; });
      this.wake = null;
    }
  }
}
