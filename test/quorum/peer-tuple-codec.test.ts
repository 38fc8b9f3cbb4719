import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { peerCase, sampleMessages } from '../../src/fuzz/peer-cases.js';
import { encodePeerFrame } from '../../src/fuzz/peer-wire.js';
import { checkPeerMessage, type CheckedMessage } from '../../src/quorum/message-schema.js';
import { PeerFrameWriter } from '../../src/quorum/peer-frames.js';
import { TupleReader } from '../../src/quorum/peer-tuple-codec.js';

// The tuple reader must make of any bytes exactly what msgpackr and the schema check make of them,
// or step aside (null): checked here on the fuzzer's frames, valid and broken, of every type.
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });
const reader = new TupleReader();

function viaMsgpackr(body: Buffer): CheckedMessage | 'undecodable' {
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch {
    return 'undecodable';
  }
  return checkPeerMessage(value);
}

describe('the peer tuple reader', () => {
  it('reads every message type the transport writes, as msgpackr and the schema check do', () => {
    const writer = new PeerFrameWriter();
    for (const msg of sampleMessages()) {
      const body = writer.encode(msg).subarray(4);
      const read = reader.read(body);
      expect(read, msg.type).not.toBeNull();
      expect(read, msg.type).toEqual(viaMsgpackr(body));
    }
  });

  it('agrees with msgpackr and the schema check on every frame of 150 fuzz cases, or leaves the frame to them', () => {
    let read = 0;
    let refused = 0;
    let frames = 0;
    for (let index = 0; index < 150; index++) {
      for (const input of peerCase(11, index).inputs) {
        if (input.bytes.length < 4) continue;
        const body = input.bytes.subarray(4);
        frames++;
        const ours = reader.read(body);
        if (ours === null) continue;
        read++;
        if (!ours.ok) refused++;
        expect(ours, input.what).toEqual(viaMsgpackr(body));
      }
    }
    // Most frames are well-formed msgpack: the reader takes them, the broken messages among them too.
    expect(read).toBeGreaterThan(frames / 2);
    expect(refused).toBeGreaterThan(20);
  });

  it('leaves bytes that end early, run on, or use forms it does not read to msgpackr', () => {
    const body = encodePeerFrame({ type: 'commit', zxid: 5n }).subarray(4);
    expect(reader.read(body.subarray(0, body.length - 1))).toBeNull();
    expect(reader.read(Buffer.concat([body, Buffer.from([0xc0])]))).toBeNull();
    expect(reader.read(Buffer.from([0x92, 0x0f, 0xca, 0, 0, 0, 0]))).toBeNull(); // a float32
    expect(reader.read(Buffer.from([0x92, 0x0f, 0x80]))).toBeNull(); // a map
    expect(reader.read(Buffer.from([0x92, 0x0f, 0x91, 0x91, 0x91, 0xc0]))).toBeNull(); // lists three deep
    expect(reader.read(Buffer.from([0x92, 0x0f, 0xa2, 0xc3, 0xa9]))).toBeNull(); // not ASCII
    expect(reader.read(Buffer.from([0x92, 0x0f, 0xdc, 0xff, 0xff]))).toBeNull(); // a list longer than the bytes
  });

  it('holds no reference to a frame after reading it', () => {
    const body = new PeerFrameWriter().encode(sampleMessages().find((m) => m.type === 'proposal')!).subarray(4);
    reader.read(body);
    expect((reader as unknown as { values: unknown[] }).values.every((v) => v === undefined)).toBe(true);
  });
});
