/**
 * A session's password is recomputed, never stored: 16 bytes from java.util.Random seeded
 * with (sessionId XOR 0xB3415C00), so any server (and ZooKeeper itself) derives the same bytes.
 */
const multiplier = 0x5deece66dn;
const mask48 = (1n << 48n) - 1n;
const passwordSeedXor = 0xb3415c00n;
export const passwordBytes = 16;

export function sessionPassword(sessionId: bigint): Buffer {
  let seed = (BigInt.asIntN(64, sessionId ^ passwordSeedXor) ^ multiplier) & mask48;
  const out = Buffer.alloc(passwordBytes);
  for (let i = 0; i < passwordBytes; ) {
    seed = (seed * multiplier + 0xbn) & mask48;
    let rnd = Number(BigInt.asIntN(32, seed >> 16n));
    for (let n = Math.min(passwordBytes - i, 4); n-- > 0; rnd >>= 8) out[i++] = rnd & 0xff;
  }
  return out;
}

export function passwordMatches(sessionId: bigint, supplied: Buffer): boolean {
  return supplied.length === passwordBytes && sessionPassword(sessionId).equals(supplied);
}
