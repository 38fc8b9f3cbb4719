import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { silentLogger } from '../logger.js';
import type { PeerMessage } from '../quorum/messages.js';
import { PeerTransport } from '../quorum/peer-transport.js';
import { withDeadline } from '../testing/wait.js';
import { withLength } from './bytes.js';

// The election port's bytes, as the fuzzer writes them. Hellos are not built here: a real
// PeerTransport dials a listener of ours and its first bytes are kept, so the fuzzer says
// hello exactly as members do, whatever the hello becomes. Messages (valid or not) are packed
// by the fuzzer's own encoder, which `checkEncoderMatchesTransport` holds to the transport's
// bytes for every message type: a change of the peer wire format fails that check loudly.

/** The msgpackr settings of the peer wire (src/quorum/peer-transport.ts). */
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

/** Any value as one peer frame (valid messages and broken ones alike). */
export function encodePeerFrame(value: unknown): Buffer {
  return withLength(Buffer.from(packr.pack(value)));
}

/** A frame body back into a value (for mutating a captured hello); throws if it does not decode. */
export function decodePeerBody(body: Buffer): unknown {
  return packr.unpack(body);
}

const captureMs = 5000;

/** Listens on loopback and hands over the bytes of each connection a PeerTransport makes to it. */
class Capture {
  private server: Server | null = null;
  private readonly sockets: Socket[] = [];
  private received = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  async start(): Promise<number> {
    const server = createServer((socket) => {
      this.sockets.push(socket);
      socket.on('data', (chunk: Buffer) => {
        this.received = Buffer.concat([this.received, chunk]);
        for (const w of this.waiters.splice(0)) w();
      });
      socket.on('error', () => undefined);
    });
    this.server = server;
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
    return (server.address() as AddressInfo).port;
  }

  /** The next length-prefixed frame received, whole (prefix included). */
  async nextFrame(what: string): Promise<Buffer> {
    const take = (): Buffer | null => {
      if (this.received.length < 4) return null;
      const total = 4 + this.received.readUInt32BE(0);
      if (this.received.length < total) return null;
      const frame = this.received.subarray(0, total);
      this.received = this.received.subarray(total);
      return Buffer.from(frame);
    };
    return withDeadline(new Promise<Buffer>((resolve) => {
      const attempt = () => {
        const frame = take();
        if (frame !== null) resolve(frame);
        else this.waiters.push(attempt);
      };
      attempt();
    }), captureMs, what);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server !== null) await new Promise<void>((done) => server.close(() => done()));
  }
}

/**
 * Runs a PeerTransport as server `self` whose peer `to` is a capture listener; `use` gets the
 * transport and the capture once the transport has dialled (its hello is the first frame).
 */
async function withCapturedTransport<T>(self: number, to: number, use: (transport: PeerTransport, capture: Capture) => Promise<T>): Promise<T> {
  const capture = new Capture();
  const port = await capture.start();
  const transport = new PeerTransport({
    self,
    peers: [{ sid: to, host: '127.0.0.1', port }],
    listenHost: '127.0.0.1',
    listenPort: 0,
    log: silentLogger(),
    onMessage: () => undefined,
    onDisconnected: () => undefined,
  });
  try {
    await transport.start();
    return await use(transport, capture);
  } finally {
    await transport.stop();
    await capture.stop();
  }
}

/** The hello a member with sid `claimed` sends when it dials member `target`, as the transport writes it. */
export async function captureHello(claimed: number, target: number): Promise<Buffer> {
  return withCapturedTransport(claimed, target, (_t, capture) => capture.nextFrame(`the hello of a transport dialling as ${claimed}`));
}

/**
 * Sends each message through a real transport and compares its bytes with the fuzzer's
 * encoding; throws naming the first message type whose bytes differ.
 */
export async function checkEncoderMatchesTransport(samples: readonly PeerMessage[]): Promise<void> {
  await withCapturedTransport(2, 1, async (transport, capture) => {
    await capture.nextFrame('the hello');
    for (const msg of samples) {
      transport.send(1, msg);
      const theirs = await capture.nextFrame(`the transport's frame of a ${msg.type} message`);
      const ours = encodePeerFrame(msg);
      if (!theirs.equals(ours)) {
        throw new Error(`the peer wire format changed: the transport packs a ${msg.type} message as ${theirs.toString('hex')}, the fuzzer as ${ours.toString('hex')}; update src/fuzz/peer-wire.ts`);
      }
    }
  });
}

