import { invariant } from '../errors.js';

/** File names in dataDir and dataLogDir. Zxids in names are 16 lowercase hex digits. */

export const logPrefix = 'log.';
export const snapshotPrefix = 'snapshot.';
export const tempSuffix = '.tmp';
export const acceptedEpochName = 'acceptedEpoch';
export const currentEpochName = 'currentEpoch';

const zxidMax = (1n << 64n) - 1n;
const hexPattern = /^[0-9a-f]{16}$/;

export function zxidHex(zxid: bigint): string {
  invariant(zxid >= 0n && zxid <= zxidMax, () => `zxid ${zxid} does not fit in 64 bits`);
  return zxid.toString(16).padStart(16, '0');
}

/** `0x` + hex, for log bindings and error messages. */
export function zxidText(zxid: bigint): string {
  return `0x${zxid.toString(16)}`;
}

export function logName(firstZxid: bigint): string {
  return `${logPrefix}${zxidHex(firstZxid)}`;
}

export function snapshotName(zxid: bigint): string {
  return `${snapshotPrefix}${zxidHex(zxid)}`;
}

/** The zxid in a name like `log.00000001000000a2`, or undefined for any other name. */
export function parseZxidName(name: string, prefix: string): bigint | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const hex = name.slice(prefix.length);
  if (!hexPattern.test(hex)) return undefined;
  return BigInt(`0x${hex}`);
}

export interface NamedFile {
  name: string;
  zxid: bigint;
}

/** Files in `names` with the given prefix and a zxid, oldest first. */
export function zxidFiles(names: readonly string[], prefix: string): NamedFile[] {
  const files: NamedFile[] = [];
  for (const name of names) {
    const zxid = parseZxidName(name, prefix);
    if (zxid !== undefined) files.push({ name, zxid });
  }
  return files.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
}
