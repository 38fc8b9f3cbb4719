import { JuteWriter } from '../protocol/jute.js';
import { withLength, type Mutated } from './bytes.js';
import { edgeInts, edgeLongs, randomBytes, weighted, type Prng } from './rng.js';

// Field-aware mutation of jute records. The protocol's own codecs write the record into a
// writer that notes where each field lies; a mutation then rewrites one field in place: a
// string or buffer made null (length -1), given a negative, huge or lying length, or invalid
// UTF-8; an int or long set to an edge value (bad enums, perms, versions, flags); a vector's
// count made -1, negative or larger than its elements; the record cut at a field.

export type FieldKind = 'bool' | 'int' | 'long' | 'string' | 'buffer' | 'count';

export interface Field {
  kind: FieldKind;
  /** Byte range of the field in the record, the length or count prefix included. */
  start: number;
  end: number;
}

/** A JuteWriter that remembers where it wrote each field. */
export class FieldWriter extends JuteWriter {
  readonly fields: Field[] = [];
  /** Inside a field: a string's own length int is part of the string, not a field of its own. */
  private inside = 0;

  private note(kind: FieldKind, write: () => void): this {
    if (this.inside > 0) {
      write();
      return this;
    }
    const start = this.length;
    this.inside++;
    try {
      write();
    } finally {
      this.inside--;
    }
    this.fields.push({ kind, start, end: this.length });
    return this;
  }

  override bool(v: boolean): this {
    return this.note('bool', () => super.bool(v));
  }

  override int(v: number): this {
    return this.note('int', () => super.int(v));
  }

  override long(v: bigint): this {
    return this.note('long', () => super.long(v));
  }

  override string(v: string | null): this {
    return this.note('string', () => super.string(v));
  }

  override buffer(v: Uint8Array | null): this {
    return this.note('buffer', () => super.buffer(v));
  }

  override vector<T>(items: readonly T[] | null, write: (w: JuteWriter, item: T) => void): this {
    this.note('count', () => super.int(items === null ? -1 : items.length));
    if (items !== null) for (const item of items) write(this, item);
    return this;
  }
}

/** A record's bytes and its fields, as a FieldWriter left them. */
export interface FieldedRecord {
  body: Buffer;
  fields: readonly Field[];
}

export function writeFielded(write: (w: FieldWriter) => void): FieldedRecord {
  const w = new FieldWriter();
  write(w);
  return { body: Buffer.from(w.bytes()), fields: w.fields };
}

/** Byte sequences a strict UTF-8 decoder refuses, and a NUL. */
const badUtf8: readonly Buffer[] = [
  Buffer.from([0xff]), Buffer.from([0xfe, 0xff]), Buffer.from([0x80]), Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xe2, 0x82]),
  Buffer.from([0x2f, 0x00, 0x61]), Buffer.from([0x2f, 0xc3, 0x28]),
];

function replaceRange(body: Buffer, field: Field, bytes: Buffer): Buffer {
  return Buffer.concat([body.subarray(0, field.start), bytes, body.subarray(field.end)]);
}

function int32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v | 0, 0);
  return b;
}

function int64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(BigInt.asIntN(64, v), 0);
  return b;
}

type FieldMutation = (rng: Prng, body: Buffer, field: Field) => { body: Buffer; what: string };

/** Mutations of a string or buffer field (an int32 length, then the bytes). */
const lengthPrefixed: readonly (readonly [number, FieldMutation])[] = [
  [6, (_rng, body, f) => ({ body: replaceRange(body, f, int32(-1)), what: 'null (length -1)' })],
  [3, (rng, body, f) => {
    const len = rng.pick([-2, -3, -100, -0x80000000]);
    return { body: replaceRange(body, f, Buffer.concat([int32(len), body.subarray(f.start + 4, f.end)])), what: `negative length ${len}` };
  }],
  [3, (rng, body, f) => {
    const len = rng.pick([0x7fffffff, 0xfffff, 0x100000, 0x200000, 0x1fffff, 0x200001]);
    return { body: replaceRange(body, f, Buffer.concat([int32(len), body.subarray(f.start + 4, f.end)])), what: `huge length ${len}` };
  }],
  [3, (rng, body, f) => {
    const actual = f.end - f.start - 4;
    const len = Math.max(0, actual + rng.pick([1, 2, 7, 64, -1, -2]));
    return { body: replaceRange(body, f, Buffer.concat([int32(len), body.subarray(f.start + 4, f.end)])), what: `length ${len} for ${actual} bytes` };
  }],
  [5, (rng, body, f) => {
    const content = body.subarray(f.start + 4, f.end);
    const bad = rng.pick(badUtf8);
    const at = rng.int(content.length + 1);
    const next = Buffer.concat([content.subarray(0, at), bad, content.subarray(at)]);
    return { body: replaceRange(body, f, Buffer.concat([int32(next.length), next])), what: `invalid UTF-8 ${bad.toString('hex')} at ${at}` };
  }],
  [2, (_rng, body, f) => ({ body: replaceRange(body, f, int32(0)), what: 'empty (length 0)' })],
  [2, (rng, body, f) => {
    const size = rng.pick([256, 4096, 65_536]);
    const content = Buffer.alloc(size, rng.pick([0x61, 0x2f, 0x00, 0xff]));
    return { body: replaceRange(body, f, Buffer.concat([int32(size), content])), what: `${size} bytes of 0x${content[0]!.toString(16)}` };
  }],
  [2, (rng, body, f) => {
    const content = randomBytes(rng, rng.range(1, 24));
    return { body: replaceRange(body, f, Buffer.concat([int32(content.length), content])), what: `random ${content.length} bytes` };
  }],
];

const intMutation: FieldMutation = (rng, body, f) => {
  const v = rng.chance(0.8) ? rng.pick(edgeInts) : rng.next() | 0;
  return { body: replaceRange(body, f, int32(v)), what: `:= ${v | 0}` };
};

const longMutation: FieldMutation = (rng, body, f) => {
  const v = rng.pick(edgeLongs);
  return { body: replaceRange(body, f, int64(v)), what: `:= ${v}` };
};

const boolMutation: FieldMutation = (rng, body, f) => {
  const v = rng.pick([2, 0x7f, 0x80, 0xff]);
  return { body: replaceRange(body, f, Buffer.from([v])), what: `:= byte ${v}` };
};

const countMutation: FieldMutation = (rng, body, f) => {
  const actual = body.readInt32BE(f.start);
  const v = rng.pick([-1, -2, -0x80000000, 0x7fffffff, 0x10000, actual + 1, actual + 1000, 0]);
  return { body: replaceRange(body, f, int32(v)), what: `count := ${v | 0} (was ${actual})` };
};

function mutateOneField(rng: Prng, body: Buffer, field: Field): { body: Buffer; what: string } {
  switch (field.kind) {
    case 'string':
    case 'buffer':
      return weighted(rng, lengthPrefixed)(rng, body, field);
    case 'int':
      return intMutation(rng, body, field);
    case 'long':
      return longMutation(rng, body, field);
    case 'bool':
      return boolMutation(rng, body, field);
    case 'count':
      return countMutation(rng, body, field);
  }
}

/**
 * One field of the record mutated, or (when `cut`) now and then the record cut inside a field;
 * `skip` fields at the start (a request header) are left alone. Returns the mutated frame,
 * length prefix included.
 */
export function mutateField(rng: Prng, record: FieldedRecord, skip = 0, cut = true): Mutated {
  const candidates = record.fields.slice(skip);
  if (candidates.length === 0) return { bytes: withLength(record.body), what: 'unchanged (no field to mutate)' };
  const index = rng.int(candidates.length);
  const field = candidates[index]!;
  if (cut && rng.chance(0.08)) {
    const at = field.start + rng.int(field.end - field.start);
    return { bytes: withLength(record.body.subarray(0, at)), what: `record cut inside field ${skip + index} (${field.kind})` };
  }
  const mutated = mutateOneField(rng, record.body, field);
  return { bytes: withLength(mutated.body), what: `field ${skip + index} (${field.kind}) ${mutated.what}` };
}
