// Peer frames: a message's wire tuple (src/quorum/message-schema.ts) as msgpack behind a 4-byte
// length, and the writer that batches every frame sent to a socket in one turn of the event
// loop into one writev.
import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { checkPeerMessage, peerMessageTuple, type CheckedMessage } from './message-schema.js';
import type { PeerMessage } from './messages.js';
import { TupleReader, TupleWriter, scratchBytes } from './peer-tuple-codec.js';

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

const tupleWriter = new TupleWriter();
const tupleReader = new TupleReader();
const scratch = Buffer.allocUnsafe(scratchBytes);

function encodeFrame(msg: PeerMessage): Buffer {
  const end = tupleWriter.write(msg, scratch);
  if (end >= 0) {
    scratch.writeUInt32BE(end - 4, 0);
    const out = Buffer.allocUnsafe(end);
    scratch.copy(out, 0, 0, end);
    return out;
  }
  const body = packr.pack(peerMessageTuple(msg));
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** A frame's body back to a message, or why it is none (bytes msgpackr cannot read, or a schema check failed). */
export function decodePeerFrame(body: Buffer): CheckedMessage {
  const read = tupleReader.read(body);
  if (read !== null) return read;
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch (err) {
    return { ok: false, reason: `the frame does not decode: ${(err as Error).message}` };
  }
  return checkPeerMessage(value);
}

export class PeerFrameWriter {
  framesSent = 0;
  /** Writes handed to peer sockets: one per socket per turn of the event loop, however many frames. */
  peerWrites = 0;
  /** Sockets written to in this turn, corked until the turn's flush. */
  private readonly corked = new Set<Socket>();
  private flushScheduled = false;
  /** The last message encoded and its frame (two fields, not a pair object per message): the leader hands one message object to every follower. */
  private lastMsg: PeerMessage | null = null;
  private lastFrame: Buffer = Buffer.alloc(0);

  /** Encodes once per message object, so a proposal to n followers is packed once, not n times. */
  encode(msg: PeerMessage): Buffer {
    if (this.lastMsg !== msg) {
      this.lastFrame = encodeFrame(msg);
      this.lastMsg = msg;
    }
    return this.lastFrame;
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
