import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { nodeFs } from './fs.js';
import type { StorageFs } from './fs.js';
import { snapshotRetainCountMin } from './limits.js';
import { logPrefix, snapshotPrefix, zxidFiles, zxidText } from './names.js';

export interface PurgeOptions {
  fs?: StorageFs;
  log?: Logger;
}

export interface PurgeResult {
  snapshotsRemoved: string[];
  segmentsRemoved: string[];
}

/**
 * Keeps the `retainCount` newest snapshots and the log segments they need, deleting the
 * rest. A segment is needed when it may hold a zxid above the oldest kept snapshot's: only
 * a segment whose successor starts at or below that zxid + 1 is wholly covered. The newest
 * segment is always kept. Snapshots go first, oldest first, so a crash part way never
 * leaves a kept snapshot without the log after it.
 */
export async function purge(dataDir: string, dataLogDir: string, retainCount: number, options: PurgeOptions = {}): Promise<PurgeResult> {
  if (!Number.isInteger(retainCount) || retainCount < snapshotRetainCountMin) {
    throw new ConfigError('autopurge.snapRetainCount', `must be an integer of at least ${snapshotRetainCountMin}, got ${retainCount}`);
  }
  const fs = options.fs ?? nodeFs;
  const snapshots = zxidFiles(await fs.readdir(dataDir), snapshotPrefix);
  if (snapshots.length <= retainCount) return { snapshotsRemoved: [], segmentsRemoved: [] };
  const oldSnapshots = snapshots.slice(0, snapshots.length - retainCount);
  const oldestKept = snapshots[snapshots.length - retainCount]!.zxid;
  const segments = zxidFiles(await fs.readdir(dataLogDir), logPrefix);
  const oldSegments = segments.filter((segment, i) => i + 1 < segments.length && segments[i + 1]!.zxid <= oldestKept + 1n);
  for (const snapshot of oldSnapshots) await fs.unlink(join(dataDir, snapshot.name));
  for (const segment of oldSegments) await fs.unlink(join(dataLogDir, segment.name));
  await fs.syncDir(dataDir);
  if (dataLogDir !== dataDir) await fs.syncDir(dataLogDir);
  const result = { snapshotsRemoved: oldSnapshots.map((file) => file.name), segmentsRemoved: oldSegments.map((file) => file.name) };
  options.log?.info({ oldestKeptSnapshot: zxidText(oldestKept), ...result }, 'purged old snapshots and log segments');
  return result;
}
