import { edgeInts, randomBytes, weighted, type Prng } from './rng.js';

// Byte-level mutations of a length-prefixed frame (int32 length, then the body): the engine
// both ports share. Each says what it did, in words, for the crash report.

export interface Mutated {
  bytes: Buffer;
  what: string;
}

const edgeBytes = [0x00, 0x01, 0x7f, 0x80, 0xc0, 0xc1, 0xff, 0xfe] as const;

/** Prefixes a body with its length as the peer and client ports do (int32, big-endian). */
export function withLength(body: Buffer, length = body.length): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(length | 0, 0);
  body.copy(out, 4);
  return out;
}

type Mutation = (rng: Prng, body: Buffer, others: readonly Buffer[]) => Mutated;

const flipBits: Mutation = (rng, body) => {
  const out = Buffer.from(body);
  const flips = rng.range(1, 4);
  for (let i = 0; i < flips && out.length > 0; i++) out[rng.int(out.length)]! ^= 1 << rng.int(8);
  return { bytes: withLength(out), what: `${flips} bit(s) flipped` };
};

const edgeByte: Mutation = (rng, body) => {
  if (body.length === 0) return trailing(rng, body, []);
  const out = Buffer.from(body);
  const at = rng.int(out.length);
  out[at] = rng.pick(edgeBytes);
  return { bytes: withLength(out), what: `byte ${at} := 0x${out[at]!.toString(16)}` };
};

const edgeInt: Mutation = (rng, body) => {
  if (body.length < 4) return trailing(rng, body, []);
  const out = Buffer.from(body);
  const at = rng.int(out.length - 3);
  const value = rng.pick(edgeInts);
  out.writeInt32BE(value | 0, at);
  return { bytes: withLength(out), what: `int32 at ${at} := ${value | 0}` };
};

const insert: Mutation = (rng, body) => {
  const at = rng.int(body.length + 1);
  const extra = randomBytes(rng, rng.range(1, 16));
  return { bytes: withLength(Buffer.concat([body.subarray(0, at), extra, body.subarray(at)])), what: `${extra.length} random bytes inserted at ${at}` };
};

const remove: Mutation = (rng, body) => {
  if (body.length === 0) return trailing(rng, body, []);
  const at = rng.int(body.length);
  const count = rng.range(1, Math.min(16, body.length - at));
  return { bytes: withLength(Buffer.concat([body.subarray(0, at), body.subarray(at + count)])), what: `${count} bytes removed at ${at}` };
};

const truncateRecord: Mutation = (rng, body) => {
  const keep = rng.int(Math.max(1, body.length));
  return { bytes: withLength(body.subarray(0, keep)), what: `record truncated to ${keep} of ${body.length} bytes` };
};

const trailing: Mutation = (rng, body) => {
  const extra = randomBytes(rng, rng.range(1, 32));
  return { bytes: withLength(Buffer.concat([body, extra])), what: `${extra.length} trailing garbage bytes` };
};

const splice: Mutation = (rng, body, others) => {
  if (others.length === 0) return flipBits(rng, body, others);
  const other = rng.pick(others);
  const head = rng.int(body.length + 1);
  const tail = rng.int(other.length + 1);
  return { bytes: withLength(Buffer.concat([body.subarray(0, head), other.subarray(tail)])), what: `first ${head} bytes spliced onto another frame's bytes from ${tail}` };
};

const lengthShort: Mutation = (rng, body) => {
  const length = rng.int(Math.max(1, body.length));
  return { bytes: withLength(body, length), what: `length prefix ${length} below the body's ${body.length} bytes` };
};

const lengthLong: Mutation = (rng, body) => {
  const length = body.length + rng.range(1, 64);
  return { bytes: withLength(body, length), what: `length prefix ${length} above the body's ${body.length} bytes (frame never completes)` };
};

const lengthNegative: Mutation = (rng, body) => {
  const length = rng.pick([-1, -2, -4, -0x80000000, -0xfffff]);
  return { bytes: withLength(body, length), what: `negative length prefix ${length}` };
};

const lengthHuge: Mutation = (rng, body) => {
  const length = rng.pick([0x100000, 0x100001, 0x7fffffff, 0x40000000, 0x40000001, 0x10000000]);
  return { bytes: withLength(body, length), what: `length prefix ${length} beyond the frame limit` };
};

const empty: Mutation = () => ({ bytes: withLength(Buffer.alloc(0)), what: 'empty frame' });

const stub: Mutation = (rng, body) => {
  const keep = Math.min(body.length, rng.range(1, 7));
  return { bytes: withLength(body.subarray(0, keep)), what: `frame of ${keep} bytes (shorter than any header)` };
};

const garbage: Mutation = (rng) => {
  const bytes = randomBytes(rng, rng.range(1, 256));
  return { bytes, what: `${bytes.length} random bytes` };
};

const mutations: readonly (readonly [number, Mutation])[] = [
  [10, flipBits], [8, edgeByte], [8, edgeInt], [5, insert], [5, remove], [10, truncateRecord],
  [6, trailing], [5, splice], [4, lengthShort], [3, lengthLong], [3, lengthNegative], [3, lengthHuge],
  [1, empty], [2, stub], [3, garbage],
];

/** One random byte-level mutation of a frame's body (the bytes after the length prefix). */
export function mutateBody(rng: Prng, body: Buffer, others: readonly Buffer[] = []): Mutated {
  return weighted(rng, mutations)(rng, body, others);
}
