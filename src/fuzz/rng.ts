import { Prng } from '../quorum/sim/prng.js';

// Randomness of a fuzz run. Every case draws from a generator of its own, seeded from the run's
// seed and the case's number only: a case can be regenerated alone, byte for byte, and what the
// servers answer never changes what the fuzzer sends next.

export { Prng };

/** Which generator family a case belongs to, so that the client and peer runs of one seed differ. */
export const CaseStream = { client: 1, peer: 2 } as const;
export type CaseStream = (typeof CaseStream)[keyof typeof CaseStream];

function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** The generator of case `index` of the run with `seed`. */
export function caseRng(seed: number, stream: CaseStream, index: number): Prng {
  return new Prng(mix32(mix32(mix32(seed >>> 0) ^ stream) ^ (index >>> 0)));
}

/** One of `choices`, each with its weight. */
export function weighted<T>(rng: Prng, choices: readonly (readonly [number, T])[]): T {
  let total = 0;
  for (const [w] of choices) total += w;
  let at = rng.float() * total;
  for (const [w, value] of choices) {
    at -= w;
    if (at < 0) return value;
  }
  return choices[choices.length - 1]![1];
}

/** Bytes from the generator; past 4 KiB the first 4 KiB repeat (large inputs are about size). */
export function randomBytes(rng: Prng, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  const fresh = Math.min(length, 4096);
  let i = 0;
  for (; i + 4 <= fresh; i += 4) out.writeUInt32LE(rng.next(), i);
  for (; i < fresh; i++) out[i] = rng.next() & 0xff;
  for (let at = fresh; at < length; at += fresh) out.copy(out, at, 0, Math.min(fresh, length - at));
  return out;
}

/** Values at the edges of a signed 32-bit field: where length, count and enum checks break. */
export const edgeInts: readonly number[] = [
  0, 1, -1, 2, -2, 7, 8, 31, 32, 100, 127, 128, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000,
  0xfffff, 0x100000, 0x7ffffffe, 0x7fffffff, -0x80000000, -0x7fffffff,
];

/** Values at the edges of a signed 64-bit field. */
export const edgeLongs: readonly bigint[] = [
  0n, 1n, -1n, 0xffffffffn, 0x100000000n, 0x1_0000_0001n, 0x7fffffffffffffffn, -0x8000000000000000n,
  0xffffffffffn, 0x10000000000n, 1n << 53n, -(1n << 53n),
];

/** A signed 32-bit integer: mostly small, often an edge value. */
export function anyInt(rng: Prng): number {
  if (rng.chance(0.4)) return rng.pick(edgeInts);
  if (rng.chance(0.5)) return rng.range(-10, 10);
  return rng.next() | 0;
}

/** A signed 64-bit integer as a bigint: mostly small, often an edge value. */
export function anyLong(rng: Prng): bigint {
  if (rng.chance(0.4)) return rng.pick(edgeLongs);
  if (rng.chance(0.5)) return BigInt(rng.range(-10, 1000));
  return BigInt.asIntN(64, (BigInt(rng.next()) << 32n) | BigInt(rng.next()));
}
