import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { silentLogger } from '../logger.js';
import type { PeerMessage } from '../quorum/messages.js';
import { decodeHello, encodeHandshakeFrame, HandshakeReader, welcomeFrame, type HelloFrame } from '../quorum/peer-handshake.js';
import { PeerTransport } from '../quorum/peer-transport.js';
import { withDeadline } from '../testing/wait.js';
import { handshakeState, stepFrame, validDial } from './peer-opening.js';
import { encodePeerFrame } from './peer-wire.js';

// Holds the fuzzer's bytes to a real PeerTransport's: a transport dials a listener of ours,
// which plays the acceptor's side of the handshake with the handshake module's functions and
// keeps every frame. The fuzzer's hello and proof for the same nonces, and its encoding of a
// message of every type, must be the transport's bytes exactly; run before every peer fuzz run.

const captureMs = 5000;
const dialer = 4;
const acceptor = 1;

/** Frames one transport wrote to us, whole (length prefix included). */
class Capture {
  private server: Server | null = null;
  private socket: Socket | null = null;
  private reader: HandshakeReader | null = null;
  private readonly connected: Promise<void>;
  private onConnection: () => void = () => undefined;

  constructor() {
    this.connected = new Promise((resolve) => {
      this.onConnection = resolve;
    });
  }

  async start(): Promise<number> {
    const server = createServer((socket) => {
      if (this.socket !== null) return socket.destroy();
      this.socket = socket;
      this.reader = new HandshakeReader(socket);
      socket.on('error', () => undefined);
      this.onConnection();
    });
    this.server = server;
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
    return (server.address() as AddressInfo).port;
  }

  /** The next frame the transport wrote, prefix included. */
  async nextFrame(what: string): Promise<Buffer> {
    return withDeadline((async () => {
      await this.connected;
      const body = await this.reader!.next();
      const prefix = Buffer.allocUnsafe(4);
      prefix.writeUInt32BE(body.length, 0);
      return Buffer.concat([prefix, body]);
    })(), captureMs, what);
  }

  write(bytes: Buffer): void {
    this.socket?.write(bytes);
  }

  async stop(): Promise<void> {
    this.socket?.destroy();
    const server = this.server;
    if (server !== null) await new Promise<void>((done) => server.close(() => done()));
  }
}

export interface CapturedHandshake {
  hello: Buffer;
  proof: Buffer;
}

/**
 * Runs a PeerTransport as server `dialer` holding `secret`, whose peer `acceptor` is us: we read
 * its hello, welcome it, read its proof; `use` then gets the transport, with the link up.
 */
async function withCapturedTransport<T>(secret: Uint8Array, use: (transport: PeerTransport, capture: Capture, handshake: CapturedHandshake, hello: HelloFrame, welcomeNonce: Uint8Array) => Promise<T>): Promise<T> {
  const capture = new Capture();
  const port = await capture.start();
  const transport = new PeerTransport({
    self: dialer,
    peers: [{ sid: acceptor, host: '127.0.0.1', port }],
    listenHost: '127.0.0.1',
    listenPort: 0,
    log: silentLogger(),
    onMessage: () => undefined,
    onDisconnected: () => undefined,
    secret,
  });
  try {
    await transport.start();
    const helloBytes = await capture.nextFrame('the hello of a transport');
    const hello = decodeHello(helloBytes.subarray(4));
    const welcome = welcomeFrame(secret, hello, acceptor);
    capture.write(encodeHandshakeFrame(welcome));
    const proof = await capture.nextFrame('the proof of a transport');
    return await use(transport, capture, { hello: helloBytes, proof }, hello, welcome.nonce);
  } finally {
    await transport.stop();
    await capture.stop();
  }
}

/**
 * A transport's handshake and messages against the fuzzer's bytes: throws naming the first frame
 * that differs (the hello, the proof, or a message type).
 */
export async function checkFuzzerMatchesTransport(secret: Uint8Array, samples: readonly PeerMessage[]): Promise<CapturedHandshake> {
  return withCapturedTransport(secret, async (transport, capture, theirs, hello, welcomeNonce) => {
    const plan = validDial(hello.nonce);
    const state = handshakeState(plan, secret, { dialer, acceptor }, [acceptor, dialer]);
    const ourHello = stepFrame({ send: 'hello', change: { kind: 'none' } }, state).bytes;
    differ('hello', theirs.hello, ourHello);
    state.welcome = welcomeFrame(secret, hello, acceptor, welcomeNonce);
    differ('proof', theirs.proof, stepFrame({ send: 'proof', change: { kind: 'none' } }, state).bytes);
    for (const msg of samples) {
      transport.send(acceptor, msg);
      differ(`${msg.type} message`, await capture.nextFrame(`the transport's frame of a ${msg.type} message`), encodePeerFrame(msg));
    }
    return theirs;
  });
}

function differ(what: string, theirs: Buffer, ours: Buffer): void {
  if (!theirs.equals(ours)) {
    throw new Error(`the peer wire format changed: the transport writes a ${what} as ${theirs.toString('hex')}, the fuzzer as ${ours.toString('hex')}; update src/fuzz/peer-opening.ts or peer-wire.ts`);
  }
}
