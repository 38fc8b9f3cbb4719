import { describe, expect, it } from 'vitest';
import { FaultFs } from '../../src/storage/fault-fs.js';
import { TxnLog } from '../../src/storage/txn-log.js';
import { captureLogger, payloadFor, tempDir, zxidOf } from './helpers.js';

/** mulberry32: a small seeded PRNG, so a failing seed replays exactly. */
function prng(seed: number): (bound: number) => number {
  let state = seed >>> 0;
  return (bound) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * bound;
  };
}

const seedCount = 12;
const roundsPerSeed = 4;
const appendsPerRoundMax = 60;

describe('TxnLog under random crashes', () => {
  it.each(Array.from({ length: seedCount }, (_, i) => 1000 + i))('seed %i: every acknowledged txn survives and the log stays a prefix of what was appended', async (seed) => {
    const random = prng(seed);
    const dir = await tempDir();
    const { log } = captureLogger();
    const segmentBytes = 200 + Math.floor(random(2000));
    const preallocateBytes = random(2) < 1 ? 0 : 512;
    const appended: bigint[] = [];
    const acked = new Set<bigint>();
    let counter = 0;
    for (let round = 0; round < roundsPerSeed; round++) {
      const faults = new FaultFs();
      const txnLog = await TxnLog.open({ dir, log, fs: faults, segmentBytes, preallocateBytes });
      await checkLog(txnLog, appended, acked, seed);
      appended.splice(appended.findIndex((zxid) => zxid > txnLog.lastZxid) >>> 0);
      const settled: Promise<unknown>[] = [];
      const appends = 1 + Math.floor(random(appendsPerRoundMax));
      for (let i = 0; i < appends; i++) {
        counter += 1 + Math.floor(random(3));
        const zxid = zxidOf(1 + round, counter);
        appended.push(zxid);
        settled.push(txnLog.append(zxid, payloadFor(zxid, Math.floor(random(300)))).then(() => acked.add(zxid), () => undefined));
        if (random(4) < 1) await new Promise((resolve) => setImmediate(resolve));
      }
      const ticks = Math.floor(random(8));
      for (let i = 0; i < ticks; i++) await new Promise((resolve) => setImmediate(resolve));
      await faults.crash({ keepUnsyncedBytes: (_path, bytes) => Math.floor(random(bytes + 1)), keepUnsyncedDirOps: random(2) < 1 });
      await Promise.all(settled);
      await txnLog.close().catch(() => undefined);
    }
    const final = await TxnLog.open({ dir, log });
    await checkLog(final, appended, acked, seed);
    await final.close();
  });
});

/** The log holds a prefix of `appended` that includes every acknowledged zxid. */
async function checkLog(txnLog: TxnLog, appended: readonly bigint[], acked: ReadonlySet<bigint>, seed: number): Promise<void> {
  const found: bigint[] = [];
  for await (const record of txnLog.readFrom(0n)) {
    expect(record.payload.equals(payloadFor(record.zxid, record.payload.length)), `seed ${seed}: payload of ${record.zxid}`).toBe(true);
    found.push(record.zxid);
  }
  expect(found, `seed ${seed}: a prefix of the appended zxids`).toEqual(appended.slice(0, found.length));
  for (const zxid of acked) {
    if (zxid <= (appended.at(-1) ?? 0n)) expect(found.includes(zxid), `seed ${seed}: acknowledged ${zxid} lost`).toBe(true);
  }
  expect(txnLog.lastZxid).toBe(found.at(-1) ?? 0n);
}
