import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { OpCode } from '../../src/protocol/constants.js';
import { FrameDecoder } from '../../src/protocol/framing.js';
import { JuteReader, JuteWriter, readLong, readUnsignedLong, writeLong } from '../../src/protocol/jute.js';
import { Prng, randomBytes } from '../../src/fuzz/rng.js';
import {
  ConnectRequestCodec,
  ConnectResponseCodec,
  GetACLResponseCodec,
  GetDataResponseCodec,
  PathStatResponseCodec,
  ReplyHeaderCodec,
  RequestHeaderCodec,
  StatCodec,
  WatcherEventCodec,
  Children2ResponseCodec,
  ChildrenResponseCodec,
  CountResponseCodec,
  WhoAmIResponseCodec,
  readMultiRequest,
  readMultiResponse,
  requestCodecs,
  writeMultiRequest,
  writeMultiResponse,
  type Codec,
} from '../../src/protocol/records.js';
import { loadVectors } from '../vectors.js';

const vectors = loadVectors();

/** Re-encodes a request body exactly as decoded; proves decode and encode agree byte for byte. */
function roundTripRequest(body: Buffer): Buffer {
  const r = new JuteReader(body);
  const header = RequestHeaderCodec.read(r);
  const w = new JuteWriter();
  RequestHeaderCodec.write(w, header);
  if (header.type === OpCode.multi || header.type === OpCode.multiRead) {
    writeMultiRequest(w, readMultiRequest(r, header.type === OpCode.multi ? 'write' : 'read'));
  } else {
    const codec = requestCodecs.get(header.type);
    if (codec === undefined) throw new Error(`no codec for request type ${header.type}`);
    codec.write(w, codec.read(r));
  }
  expect(r.remaining).toBe(0);
  return w.bytes();
}

const responseCodecs: Record<string, Codec<any> | 'none' | 'multi'> = {
  create: { write: (w, v) => w.string(v.path), read: (r) => ({ path: r.string() }) },
  create2: PathStatResponseCodec,
  createContainer: PathStatResponseCodec,
  createTTL: PathStatResponseCodec,
  exists: { write: (w, v) => StatCodec.write(w, v), read: (r) => StatCodec.read(r) },
  setData: { write: (w, v) => StatCodec.write(w, v), read: (r) => StatCodec.read(r) },
  setACL: { write: (w, v) => StatCodec.write(w, v), read: (r) => StatCodec.read(r) },
  getData: GetDataResponseCodec,
  getACL: GetACLResponseCodec,
  getChildren: ChildrenResponseCodec,
  getEphemerals: ChildrenResponseCodec,
  getChildren2: Children2ResponseCodec,
  getAllChildrenNumber: CountResponseCodec,
  whoAmI: WhoAmIResponseCodec,
  sync: { write: (w, v) => w.string(v.path), read: (r) => ({ path: r.string() }) },
  addWatch: { write: (w, v) => w.int(v), read: (r) => r.int() },
  multi: 'multi',
  multiRead: 'multi',
};

function roundTripReply(body: Buffer, op: string | undefined): Buffer {
  const r = new JuteReader(body);
  const header = ReplyHeaderCodec.read(r);
  const w = new JuteWriter();
  ReplyHeaderCodec.write(w, header);
  if (header.xid === -1) {
    WatcherEventCodec.write(w, WatcherEventCodec.read(r));
  } else if (r.remaining > 0) {
    const codec = op === undefined ? undefined : responseCodecs[op];
    if (codec === undefined || codec === 'none') throw new Error(`no response codec for ${op}`);
    if (codec === 'multi') writeMultiResponse(w, readMultiResponse(r));
    else codec.write(w, codec.read(r));
  }
  expect(r.remaining).toBe(0);
  return w.bytes();
}

describe('codec against the golden ZooKeeper 3.8 frames', () => {
  const framed = vectors.scenarios.flatMap((s) =>
    s.frames
      .filter((f) => !String(f.decoded?.kind ?? '').startsWith('FourLetterWord'))
      .map((f) => ({ scenario: s.name, frame: f })),
  );

  it('has frames to check', () => {
    expect(framed.length).toBeGreaterThan(700);
  });

  it.each(vectors.scenarios.filter((s) => !s.name.startsWith('4lw-')).map((s) => [s.name, s] as const))('%s: every frame decodes and re-encodes to the same bytes', (_name, scenario) => {
    let checked = 0;
    for (const f of scenario.frames) {
      const kind = f.decoded?.kind as string;
      if (kind.startsWith('FourLetterWord')) continue;
      const bytes = Buffer.from(f.hex, 'hex');
      const decoder = new FrameDecoder(0xfffff);
      const frames = decoder.push(bytes);
      expect(frames).toHaveLength(1);
      const body = frames[0]!;
      let again: Buffer;
      if (kind === 'ConnectRequest') {
        const w = new JuteWriter();
        ConnectRequestCodec.write(w, ConnectRequestCodec.read(new JuteReader(body)));
        again = w.bytes();
      } else if (kind === 'ConnectResponse') {
        const w = new JuteWriter();
        ConnectResponseCodec.write(w, ConnectResponseCodec.read(new JuteReader(body)));
        again = w.bytes();
      } else if (kind === 'Request') {
        again = roundTripRequest(body);
      } else {
        again = roundTripReply(body, f.decoded.op);
      }
      expect(again.toString('hex'), `${scenario.name} frame ${checked}`).toBe(body.toString('hex'));
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('mirrors the optional readOnly byte of the ConnectRequest', () => {
    const node = vectors.scenarios.find((s) => s.name === 'node-connect-no-readonly-byte')!;
    const req = ConnectRequestCodec.read(new JuteReader(Buffer.from(node.frames[0]!.hex, 'hex').subarray(4)));
    expect(req.readOnly).toBeUndefined();
    const java = vectors.scenarios.find((s) => s.name === 'java-connect-canBeReadOnly')!;
    const req2 = ConnectRequestCodec.read(new JuteReader(Buffer.from(java.frames[0]!.hex, 'hex').subarray(4)));
    expect(req2.readOnly).toBe(true);
  });
});

describe('exact bytes of docs/protocol.md examples', () => {
  it('encodes a new-session ConnectRequest', () => {
    const w = new JuteWriter();
    ConnectRequestCodec.write(w, { protocolVersion: 0, lastZxidSeen: 0n, timeOut: 30000, sessionId: 0n, passwd: Buffer.alloc(16), readOnly: false });
    expect(w.frame().toString('hex')).toBe('0000002d' + '00000000' + '0000000000000000' + '00007530' + '0000000000000000' + '00000010' + '00'.repeat(16) + '00');
  });

  it('encodes exists with a watch', () => {
    const w = new JuteWriter();
    RequestHeaderCodec.write(w, { xid: 1, type: OpCode.exists });
    requestCodecs.get(OpCode.exists)!.write(w, { path: '/a', watch: true });
    expect(w.frame().toString('hex')).toBe('0000000f000000010000000300000002' + '2f6101');
  });

  it('encodes an error reply and a notification', () => {
    const w = new JuteWriter();
    ReplyHeaderCodec.write(w, { xid: 1, zxid: 5n, err: -101 });
    expect(w.frame().toString('hex')).toBe('00000010000000010000000000000005ffffff9b');
    const n = new JuteWriter();
    ReplyHeaderCodec.write(n, { xid: -1, zxid: -1n, err: 0 });
    WatcherEventCodec.write(n, { type: 1, state: 3, path: '/a' });
    expect(n.frame().toString('hex')).toBe('0000001effffffffffffffffffffffff00000000000000010000000300000002' + '2f61');
  });

  it('keeps a null buffer distinct from an empty one', () => {
    const w = new JuteWriter();
    w.buffer(null).buffer(Buffer.alloc(0)).string(null);
    expect(w.bytes().toString('hex')).toBe('ffffffff' + '00000000' + 'ffffffff');
    const r = new JuteReader(w.bytes());
    expect(r.buffer()).toBeNull();
    expect(r.buffer()).toEqual(Buffer.alloc(0));
    expect(r.stringOrNull()).toBeNull();
  });

  it('keeps every bit of a 64-bit zxid', () => {
    const w = new JuteWriter();
    w.long(0x7fffffff_ffffffffn).long(-0x8000000000000000n).long(0x1_0000_0001n);
    const r = new JuteReader(w.bytes());
    expect(r.long()).toBe(0x7fffffff_ffffffffn);
    expect(r.long()).toBe(-0x8000000000000000n);
    expect(r.long()).toBe(0x1_0000_0001n);
  });

  it('readLong and readUnsignedLong read what Buffer reads, and writeLong writes what it writes, at any offset', () => {
    const rng = new Prng(64);
    const bytes = randomBytes(rng, 4096);
    for (let at = 0; at + 8 <= bytes.length; at += 1 + rng.int(7)) {
      expect(readLong(bytes, at)).toBe(bytes.readBigInt64BE(at));
      expect(readUnsignedLong(bytes, at)).toBe(bytes.readBigUInt64BE(at));
      const written = Buffer.alloc(16);
      writeLong(written, at % 9, readUnsignedLong(bytes, at));
      expect(written.readBigInt64BE(at % 9)).toBe(bytes.readBigInt64BE(at));
    }
  });
});

describe('framing', () => {
  const frameOf = (body: string) => {
    const b = Buffer.from(body, 'hex');
    const out = Buffer.alloc(4 + b.length);
    out.writeInt32BE(b.length);
    b.copy(out, 4);
    return out;
  };

  it('reassembles frames split across reads and splits frames merged in one read', () => {
    const stream = Buffer.concat([frameOf('aabbcc'), frameOf(''), frameOf('01020304050607')]);
    for (let cut = 1; cut < stream.length; cut++) {
      const d = new FrameDecoder(1024);
      const frames = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(frames.map((f) => f.toString('hex'))).toEqual(['aabbcc', '', '01020304050607']);
    }
    const d = new FrameDecoder(1024);
    const byteByByte = [...stream].flatMap((b) => d.push(Buffer.from([b])));
    expect(byteByByte).toHaveLength(3);
  });

  it('refuses a length beyond jute.maxbuffer and a negative length', () => {
    const big = Buffer.alloc(4);
    big.writeInt32BE(0xfffff + 1);
    expect(() => new FrameDecoder(0xfffff).push(big)).toThrow(ProtocolError);
    const neg = Buffer.from('ffffffff', 'hex');
    expect(() => new FrameDecoder(0xfffff).push(neg)).toThrow(/outside/);
  });

  it('refuses truncated records and lying lengths with ProtocolError, never another error', () => {
    const valid = Buffer.from('000000010000000100ffffffff000000052f6b6d2f6300000000000000010000001f00000005776f726c6400000006616e796f6e6500000000', 'hex');
    for (let cut = 0; cut < valid.length; cut++) {
      const r = new JuteReader(valid.subarray(0, cut));
      expect(() => {
        RequestHeaderCodec.read(r);
        requestCodecs.get(OpCode.create)!.read(r);
      }).toThrow(ProtocolError);
    }
    const lying = Buffer.from('7fffffff', 'hex');
    expect(() => new JuteReader(lying).string()).toThrow(/exceeds the limit/);
    const manyAcls = Buffer.from('00000000' + '00000000' + '7ffffff0', 'hex');
    expect(() => {
      const r = new JuteReader(manyAcls);
      r.string();
      r.buffer();
      r.vector((x) => x.int());
    }).toThrow(/vector count/);
  });

  it('survives random garbage: only ProtocolError comes out of the decoders', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 3000; i++) {
      const len = rand() % 64;
      const body = Buffer.alloc(len);
      for (let j = 0; j < len; j++) body[j] = rand() & 0xff;
      for (const [type, codec] of requestCodecs) {
        try {
          codec.read(new JuteReader(body));
        } catch (err) {
          expect(err, `request type ${type}`).toBeInstanceOf(ProtocolError);
        }
      }
      try {
        readMultiRequest(new JuteReader(body), 'write');
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }
  });
});
