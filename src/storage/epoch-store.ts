import { join } from 'node:path';
import type { Logger } from 'pino';
import { StorageError, invariant } from '../errors.js';
import { nodeFs, readSmallFile, writeFileAtomic } from './fs.js';
import type { StorageFs } from './fs.js';
import { acceptedEpochName, currentEpochName } from './names.js';

export interface EpochStoreOptions {
  /** dataDir. */
  dir: string;
  log: Logger;
  fs?: StorageFs;
  /** The epoch a missing file stands for (default 0). */
  missingEpoch?: number;
}

/** Epochs are the high 32 bits of a zxid. */
const epochMax = 0xffffffff;
const epochPattern = /^(\d{1,10})\n?$/;

/**
 * ZAB's two durable epochs, each in its own file of decimal text (as ZooKeeper writes
 * them), replaced atomically: temp file, fsync, rename, fsync of the directory.
 */
export class EpochStore {
  private constructor(
    private readonly options: EpochStoreOptions,
    private accepted: number,
    private current: number,
  ) {}

  static async open(options: EpochStoreOptions): Promise<EpochStore> {
    const fs = options.fs ?? nodeFs;
    await fs.mkdir(options.dir);
    const missing = options.missingEpoch ?? 0;
    const accepted = await readEpoch(fs, join(options.dir, acceptedEpochName), missing);
    const current = await readEpoch(fs, join(options.dir, currentEpochName), missing);
    options.log.child({ component: 'epochs' }).info({ acceptedEpoch: accepted, currentEpoch: current }, 'epochs read');
    return new EpochStore(options, accepted, current);
  }

  get acceptedEpoch(): number {
    return this.accepted;
  }

  get currentEpoch(): number {
    return this.current;
  }

  /** Durably records the epoch this server promised to follow (NEWEPOCH). Never decreases. */
  async setAcceptedEpoch(epoch: number): Promise<void> {
    checkEpoch(epoch);
    invariant(epoch >= this.accepted, `acceptedEpoch would go back from ${this.accepted} to ${epoch}`);
    await this.write(acceptedEpochName, epoch);
    this.accepted = epoch;
  }

  /** Durably records the epoch whose history this server holds (NEWLEADER). Never decreases. */
  async setCurrentEpoch(epoch: number): Promise<void> {
    checkEpoch(epoch);
    invariant(epoch >= this.current, `currentEpoch would go back from ${this.current} to ${epoch}`);
    await this.write(currentEpochName, epoch);
    this.current = epoch;
  }

  private write(name: string, epoch: number): Promise<void> {
    return writeFileAtomic(this.options.fs ?? nodeFs, this.options.dir, name, Buffer.from(`${epoch}\n`, 'latin1'));
  }
}

function checkEpoch(epoch: number): void {
  invariant(Number.isInteger(epoch) && epoch >= 0 && epoch <= epochMax, `epoch ${epoch} is not a 32-bit unsigned integer`);
}

async function readEpoch(fs: StorageFs, path: string, missing: number): Promise<number> {
  const bytes = await readSmallFile(fs, path);
  if (bytes === undefined) return missing;
  const match = epochPattern.exec(bytes.toString('latin1'));
  const epoch = match === null ? Number.NaN : Number(match[1]);
  if (!Number.isInteger(epoch) || epoch > epochMax) {
    throw new StorageError(path, 0, `expected a decimal epoch between 0 and ${epochMax}, found ${JSON.stringify(bytes.subarray(0, 32).toString('latin1'))}`);
  }
  return epoch;
}
