import { invariant } from '../errors.js';

/**
 * A zxid names one transaction: the epoch of the leader that proposed it in the high
 * 32 bits and that leader's counter in the low 32 bits. It is always a bigint because a
 * JavaScript number silently loses bits above 2^53.
 */
export type Zxid = bigint;

/** The largest counter a leader may use; reaching it forces a new election and epoch. */
export const zxidCounterMax = 0xffff_ffffn;
/** Epochs are 32-bit as well, as in ZooKeeper's epoch files. */
export const zxidEpochMax = 0xffff_ffffn;
/** The zxid before any transaction: epoch 0, counter 0. */
export const zxidZero: Zxid = 0n;

export function makeZxid(epoch: bigint, counter: bigint): Zxid {
  invariant(epoch >= 0n && epoch <= zxidEpochMax, () => `epoch out of range: ${epoch}`);
  invariant(counter >= 0n && counter <= zxidCounterMax, () => `counter out of range: ${counter}`);
  return (epoch << 32n) | counter;
}

export function zxidEpoch(zxid: Zxid): bigint {
  return zxid >> 32n;
}

export function zxidCounter(zxid: Zxid): bigint {
  return zxid & zxidCounterMax;
}

/** The first zxid a leader of `epoch` assigns is counter 1; counter 0 marks the epoch itself. */
export function zxidEpochStart(epoch: bigint): Zxid {
  return makeZxid(epoch, 0n);
}

/** Hex as ZooKeeper logs it: 0x followed by the 64-bit value. */
export function zxidToHex(zxid: Zxid): string {
  return `0x${zxid.toString(16)}`;
}

export function maxZxid(a: Zxid, b: Zxid): Zxid {
  return a > b ? a : b;
}

export function minZxid(a: Zxid, b: Zxid): Zxid {
  return a < b ? a : b;
}
