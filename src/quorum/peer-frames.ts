// Peer frames: msgpackr bodies behind a 4-byte length, and the writer that batches every
// frame sent to a socket in one turn of the event loop into one writev.
import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import type { PeerMessage } from './messages.js';

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

function encodeFrame(value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** A frame's body back to a value; throws on bytes msgpackr cannot read. */
export function decodeFrameBody(body: Buffer): unknown {
  return packr.unpack(body);
}

export class PeerFrameWriter {
  framesSent = 0;
  /** Writes handed to peer sockets: one per socket per turn of the event loop, however many frames. */
  peerWrites = 0;
  /** Sockets written to in this turn, corked until the turn's flush. */
  private readonly corked = new Set<Socket>();
  private flushScheduled = false;
  /** The last message encoded: the leader hands one message object to every follower. */
  private lastEncoded: { msg: PeerMessage; frame: Buffer } | null = null;

  /** Encodes once per message object, so a proposal to n followers is packed once, not n times. */
  encode(msg: PeerMessage): Buffer {
    if (this.lastEncoded?.msg !== msg) this.lastEncoded = { msg, frame: encodeFrame(msg) };
    return this.lastEncoded.frame;
  }

  /**
   * Everything sent to one peer in a turn of the event loop leaves in one writev: the first
   * write of the turn corks the socket and the turn's flush uncorks it. setImmediate, not
   * nextTick, so the batch spans every callback of the turn (a data chunk of several frames,
   * the fsync completion, client packets); it adds no wait beyond the callbacks already ready.
   */
  write(socket: Socket, frame: Buffer): void {
    if (!this.corked.has(socket)) {
      socket.cork();
      this.corked.add(socket);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    socket.write(frame);
    this.framesSent++;
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const socket of this.corked) {
      socket.uncork();
      if (!socket.destroyed) this.peerWrites++;
    }
    this.corked.clear();
  }
}
