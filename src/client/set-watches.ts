import { OpCode } from '../protocol/constants.js';
import { SetWatches2Codec, SetWatchesCodec, type SetWatches } from '../protocol/records.js';
import type { Request } from './request-queue.js';
import type { ClientLogger } from './types.js';

/** Server paths of every watch to re-register after a reconnect, per kind. */
export interface WatchPaths {
  data: string[];
  exist: string[];
  child: string[];
  persistent: string[];
  persistentRecursive: string[];
}

/** Java's SetWatches batch limit: about 128 KB of path text per packet. */
const setWatchesBytesMax = 128 * 1024;

/**
 * The requests that re-register watches on a new connection, relative to the last zxid seen
 * so that the server fires those whose node changed meanwhile. setWatches2 only when there
 * are persistent watches, so that servers before 3.6 still understand the common case.
 */
export function setWatchesRequests(paths: WatchPaths, relativeZxid: bigint, logger: ClientLogger): Request[] {
  const withPersistent = paths.persistent.length > 0 || paths.persistentRecursive.length > 0;
  const opcode = withPersistent ? OpCode.setWatches2 : OpCode.setWatches;
  const codec = withPersistent ? SetWatches2Codec : SetWatchesCodec;
  return setWatchesBatches(paths, relativeZxid).map((batch) => ({
    opcode,
    write: (w) => codec.write(w, batch),
    handle: (header) => {
      if (header.err !== 0) logger.warn({ err: header.err }, 'setWatches refused');
    },
    fail: () => undefined,
  }));
}

/** Splits the watch lists into SetWatches records of at most ~128 KB of path text each. */
export function setWatchesBatches(paths: WatchPaths, relativeZxid: bigint): SetWatches[] {
  const batches: SetWatches[] = [];
  const fresh = (): SetWatches => ({
    relativeZxid,
    dataWatches: [],
    existWatches: [],
    childWatches: [],
    persistentWatches: [],
    persistentRecursiveWatches: [],
  });
  let current = fresh();
  let bytes = 0;
  let count = 0;
  const lists: [string[], keyof SetWatches][] = [
    [paths.data, 'dataWatches'],
    [paths.exist, 'existWatches'],
    [paths.child, 'childWatches'],
    [paths.persistent, 'persistentWatches'],
    [paths.persistentRecursive, 'persistentRecursiveWatches'],
  ];
  for (const [list, field] of lists) {
    for (const path of list) {
      (current[field] as string[]).push(path);
      bytes += Buffer.byteLength(path);
      count++;
      if (bytes > setWatchesBytesMax) {
        batches.push(current);
        current = fresh();
        bytes = 0;
        count = 0;
      }
    }
  }
  if (count > 0) batches.push(current);
  return batches;
}
