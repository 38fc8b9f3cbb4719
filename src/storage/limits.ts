/** Named limits and defaults of the storage layer; units last. */

const mebibyte = 1024 * 1024;

/** A new txn log segment is started once the current one holds this many bytes. */
export const segmentBytesDefault = 64 * mebibyte;
/**
 * Zeros written ahead of the log's write position, so that most durable writes find the file
 * size unchanged and need not commit metadata. 0 turns preallocation off.
 */
export const preallocateBytesDefault = 4 * mebibyte;
/** A txn payload larger than this is refused on append and treated as corruption on read. */
export const payloadBytesMax = 64 * mebibyte;
/** One group-commit batch (one durable writev) carries at most this many bytes. */
export const batchBytesMax = 16 * mebibyte;
/**
 * A batch up to this many bytes is written on the loop thread (a larger one would hold the
 * loop for its copy to the disk).
 */
export const loopWriteBytesMax = 64 * 1024;
/**
 * A write on the loop thread slower than this is taken for a stalling disk: the log writes
 * through the thread pool for loopWriteBackoffMs, so the loop serves reads and pings meanwhile.
 */
export const loopWriteSlowMsDefault = 100;
export const loopWriteBackoffMs = 10_000;
/** Sequential reads of log segments and snapshots fetch this much at a time. */
export const readChunkBytes = 4 * mebibyte;

/** A snapshot frame aims at this many msgpack bytes before compression. */
export const snapshotFrameBytesTarget = 1024 * 1024;
/** ...and never holds more records than this, whatever their size. */
export const snapshotFrameRecordsMax = 2048;
/** A frame length above this is corruption, not a frame. */
export const snapshotFrameBytesMax = 1024 * mebibyte;
/** ZooKeeper's own floor for autopurge.snapRetainCount. */
export const snapshotRetainCountMin = 3;
