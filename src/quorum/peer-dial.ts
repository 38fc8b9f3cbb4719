// The dialling side of peer connections: the larger sid dials, proves itself in the handshake,
// and redials with a doubling backoff while the peer cannot be reached.
import { createConnection, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type SecureContext } from 'node:tls';
import type { Logger } from '../logger.js';
import {
  HandshakeReader,
  HandshakeRefused,
  answerWelcome,
  decodeWelcome,
  encodeHandshakeFrame,
  helloFrame,
  resolveAddresses,
} from './peer-handshake.js';
import { helloTimeoutMs, redialDelayMsMax, redialDelayMsMin, type PeerAddress, type PeerTlsOptions, type PeerTransportOptions } from './peer-options.js';

/** What the dial and accept sides share with the transport that owns them. */
export interface PeerConnectContext {
  readonly options: PeerTransportOptions;
  readonly log: Logger;
  readonly secret: Uint8Array | null;
  readonly tls: PeerTlsOptions | null;
  readonly secureContext: SecureContext | null;
  /** Connections still in their handshake, dialled or accepted; bounded by peerHandshakesMax. */
  readonly pending: Set<Socket>;
  isStopped(): boolean;
  isConnected(sid: number): boolean;
  /** A proven connection becomes the peer's link; `initial` holds bytes read past the handshake. */
  attach(sid: number, socket: Socket, initial?: Buffer): void;
}

interface DialState {
  redialTimer: NodeJS.Timeout | null;
  redialDelayMs: number;
  /** A dial is under way (resolving, connecting or in its handshake). */
  dialing: boolean;
  /** Why the last dial failed, so a failure that repeats is logged once. */
  lastDialProblem: string | null;
}

/** Connection failures that only mean "not up yet": a peer that is down is not news for the log. */
const quietDialErrors = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export class PeerDialer {
  private readonly dials = new Map<number, DialState>();
  private localAddresses: string[] = [];

  constructor(private readonly ctx: PeerConnectContext) {
    for (const p of ctx.options.peers) {
      if (p.sid === ctx.options.self) continue;
      this.dials.set(p.sid, { redialTimer: null, redialDelayMs: redialDelayMsMin, dialing: false, lastDialProblem: null });
    }
  }

  /** Dials every peer with a smaller sid, from our own server.N address so peers see the one they expect. */
  async start(): Promise<void> {
    const listenHost = this.ctx.options.listenHost;
    if (!isWildcard(listenHost)) this.localAddresses = await resolveAddresses(listenHost).catch(() => []);
    for (const sid of this.dials.keys()) if (this.ctx.options.self > sid) this.dial(sid);
  }

  stop(): void {
    for (const state of this.dials.values()) if (state.redialTimer !== null) clearTimeout(state.redialTimer);
  }

  private dial(sid: number): void {
    const state = this.dials.get(sid)!;
    if (this.ctx.isStopped() || this.ctx.isConnected(sid) || state.redialTimer !== null || state.dialing) return;
    const addr = this.ctx.options.peers.find((p) => p.sid === sid)!;
    state.dialing = true;
    // Resolved on every dial: a peer that restarts may come back on a new address.
    void resolveAddresses(addr.host).then(
      (addresses) => {
        if (this.ctx.isStopped() || this.ctx.isConnected(sid)) {
          state.dialing = false;
          return;
        }
        this.connectTo(sid, addr, addresses[0]!);
      },
      (err: Error) => {
        state.dialing = false;
        this.dialFailed(sid, `cannot resolve ${addr.host}: ${err.message}`, true);
      },
    );
  }

  private connectTo(sid: number, addr: PeerAddress, address: string): void {
    const ctx = this.ctx;
    const localAddress = this.localAddresses.find((a) => isIP(a) === isIP(address));
    const tcp = createConnection({ host: address, port: addr.port, localAddress });
    const socket: Socket = ctx.tls === null
      ? tcp
      : tlsConnect({
          socket: tcp,
          servername: isIP(addr.host) === 0 ? addr.host : undefined,
          secureContext: ctx.secureContext!,
          checkServerIdentity: (_host, cert) => (ctx.tls!.hostnameVerification ? checkServerIdentity(addr.host, cert) : undefined),
        });
    tcp.setNoDelay(true);
    ctx.pending.add(socket);
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
    socket.once(ctx.tls === null ? 'connect' : 'secureConnect', () => {
      this.handshakeAsDialer(sid, socket, reader).then(
        () => {
          clearTimeout(timer);
          ctx.pending.delete(socket);
          const state = this.dials.get(sid)!;
          state.dialing = false;
          if (ctx.isStopped()) return socket.destroy();
          state.lastDialProblem = null;
          state.redialDelayMs = redialDelayMsMin;
          ctx.attach(sid, socket, reader.detach());
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
      if (!ctx.pending.delete(socket)) return;
      this.dials.get(sid)!.dialing = false;
      this.scheduleRedial(sid);
    });
  }

  /** Logs a dial problem once per change of reason; `redial` when no socket will close to trigger it. */
  private dialFailed(sid: number, problem: string, redial: boolean): void {
    const state = this.dials.get(sid)!;
    if (state.lastDialProblem !== problem) {
      state.lastDialProblem = problem;
      const addr = this.ctx.options.peers.find((p) => p.sid === sid)!;
      this.ctx.log.warn({ peer: sid, address: `${addr.host}:${addr.port}`, reason: problem }, 'cannot connect to peer');
    }
    if (redial) this.scheduleRedial(sid);
  }

  private async handshakeAsDialer(sid: number, socket: Socket, reader: HandshakeReader): Promise<void> {
    const hello = helloFrame(this.ctx.options.self);
    socket.write(encodeHandshakeFrame(hello));
    const welcome = decodeWelcome(await reader.next());
    socket.write(encodeHandshakeFrame(answerWelcome(this.ctx.secret, hello, sid, welcome)));
  }

  /** Dials `sid` again after the current backoff, which then doubles up to redialDelayMsMax. */
  scheduleRedial(sid: number): void {
    const state = this.dials.get(sid)!;
    if (this.ctx.isStopped() || state.redialTimer !== null || this.ctx.isConnected(sid)) return;
    state.redialTimer = setTimeout(() => {
      state.redialTimer = null;
      this.dial(sid);
    }, state.redialDelayMs);
    state.redialTimer.unref();
    state.redialDelayMs = Math.min(state.redialDelayMs * 2, redialDelayMsMax);
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
