import { constants as fsConstants, writevSync } from 'node:fs';
import { open as openFile, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The file-system surface the storage layer needs, and nothing more. Storage is written
 * against this interface so that tests (and the simulator) can wrap it with a layer that
 * loses unsynced bytes, tears writes and flips bits.
 */
export interface StorageFile {
  readonly path: string;
  /** Reads up to `target.length` bytes at `position`; returns how many were read (0 at EOF). */
  read(target: Uint8Array, position: number): Promise<number>;
  /** Writes all of `data` at `position`. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Writes all buffers back to back starting at `position`. */
  writev(data: readonly Uint8Array[], position: number): Promise<void>;
  /**
   * writev, then fdatasync: the buffers are durable when this resolves. One request to the
   * file system instead of two (a write through an O_DSYNC handle): a group commit then waits
   * for one hand-off to the thread pool and back, not two.
   */
  writevDurable(data: readonly Uint8Array[], position: number): Promise<void>;
  /**
   * writevDurable on the calling thread, for a write too small to be worth a thread-pool
   * hand-off; false (nothing written) when it cannot be done now. Optional: a file system
   * without it gets every write through writevDurable.
   */
  writevDurableSync?(data: readonly Uint8Array[], position: number): boolean;
  /** fdatasync: the file's bytes (and its size) are durable when this resolves. */
  datasync(): Promise<void>;
  /** fsync: bytes and all metadata are durable when this resolves. */
  sync(): Promise<void>;
  size(): Promise<number>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * read: existing file, read only. readWrite: existing file. createExclusive: a new file,
 * failing if it exists. createTruncate: a new or emptied file.
 */
export type OpenMode = 'read' | 'readWrite' | 'createExclusive' | 'createTruncate';

export interface StorageFs {
  open(path: string, mode: OpenMode): Promise<StorageFile>;
  readdir(dir: string): Promise<string[]>;
  /** Creates the directory and its parents; succeeds if it exists. */
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync on the directory, so that creates, renames and unlinks in it are durable. */
  syncDir(dir: string): Promise<void>;
}

const openFlags: Record<OpenMode, string> = {
  read: 'r',
  readWrite: 'r+',
  createExclusive: 'wx+',
  createTruncate: 'w+',
};

class NodeFile implements StorageFile {
  /** The same file opened O_DSYNC, for writevDurable; opened on first use. */
  private dsync: Promise<FileHandle> | undefined;
  /** Its descriptor once open, for writevDurableSync; -1 before. */
  private dsyncFd = -1;

  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  async read(target: Uint8Array, position: number): Promise<number> {
    let filled = 0;
    // A regular file returns short reads only at EOF, but the loop costs nothing and
    // keeps the contract exact.
    while (filled < target.length) {
      const { bytesRead } = await this.handle.read(target, filled, target.length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, position + written);
      written += bytesWritten;
    }
  }

  writev(data: readonly Uint8Array[], position: number): Promise<void> {
    return writeAll(this.handle, data, position);
  }

  async writevDurable(data: readonly Uint8Array[], position: number): Promise<void> {
    // A platform without O_DSYNC (Windows) gets the two steps: a write there is not durable.
    if (fsConstants.O_DSYNC === undefined) {
      await writeAll(this.handle, data, position);
      return this.handle.datasync();
    }
    this.dsync ??= openFile(this.path, fsConstants.O_WRONLY | fsConstants.O_DSYNC).then((handle) => {
      this.dsyncFd = handle.fd;
      return handle;
    });
    await writeAll(await this.dsync, data, position);
  }

  /** Only once writevDurable has opened the O_DSYNC handle: opening it here would block too. */
  writevDurableSync(data: readonly Uint8Array[], position: number): boolean {
    if (this.dsyncFd < 0) return false;
    let pending = data.filter((buffer) => buffer.length > 0);
    for (let offset = position; pending.length > 0; ) {
      const written = writevSync(this.dsyncFd, pending, offset);
      offset += written;
      pending = dropWritten(pending, written);
    }
    return true;
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  async close(): Promise<void> {
    const dsync = this.dsync;
    this.dsync = undefined;
    try {
      if (dsync !== undefined) await (await dsync).close();
    } finally {
      // After the open settled: its callback sets the descriptor.
      this.dsyncFd = -1;
      await this.handle.close();
    }
  }
}

/** Writes all buffers back to back from `position`, however many writes that takes. */
async function writeAll(handle: FileHandle, data: readonly Uint8Array[], position: number): Promise<void> {
  let pending = data.filter((buffer) => buffer.length > 0);
  let offset = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, offset);
    offset += bytesWritten;
    pending = dropWritten(pending, bytesWritten);
  }
}

/** After a partial writev, the buffers (or the tails of them) still to be written. */
function dropWritten(buffers: readonly Uint8Array[], bytesWritten: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = bytesWritten;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}

/** The real file system, over node:fs/promises. */
export class NodeFs implements StorageFs {
  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    return new NodeFile(path, await openFile(path, openFlags[mode]));
  }

  readdir(dir: string): Promise<string[]> {
    return readdir(dir);
  }

  async mkdir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  }

  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    const handle = await openFile(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

export const nodeFs: StorageFs = new NodeFs();

/** True when the error is "no such file or directory". */
export function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

/** Reads a whole (small) file; undefined when it does not exist. */
export async function readSmallFile(fs: StorageFs, path: string): Promise<Buffer | undefined> {
  let file: StorageFile;
  try {
    file = await fs.open(path, 'read');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  try {
    const target = Buffer.alloc(await file.size());
    const read = await file.read(target, 0);
    return target.subarray(0, read);
  } finally {
    await file.close();
  }
}

/**
 * Replaces `path` atomically: write a temp file, fsync it, rename it over `path`, fsync
 * the directory. A crash at any point leaves either the old contents or the new ones.
 */
export async function writeFileAtomic(fs: StorageFs, dir: string, name: string, data: Uint8Array): Promise<void> {
  const finalPath = join(dir, name);
  const tempPath = `${finalPath}.tmp`;
  const file = await fs.open(tempPath, 'createTruncate');
  try {
    await file.write(data, 0);
    await file.sync();
  } finally {
    await file.close();
  }
  await fs.rename(tempPath, finalPath);
  await fs.syncDir(dir);
}
