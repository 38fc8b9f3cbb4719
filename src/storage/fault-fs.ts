import { dirname } from 'node:path';
import { isNotFound, nodeFs } from './fs.js';
import type { OpenMode, StorageFile, StorageFs } from './fs.js';

/**
 * A StorageFs wrapper for tests and simulation that remembers everything not yet made
 * durable and can take it away, as a power cut would:
 *
 * - bytes written to a file since its last fsync/fdatasync (all lost, or a prefix kept,
 *   which tears the last write);
 * - creates, renames and unlinks since the last fsync of their directory.
 *
 * It can also fail the next call of a given kind and flip a byte in place.
 */
export type FaultOp = 'read' | 'write' | 'writev' | 'datasync' | 'sync' | 'truncate' | 'open' | 'rename' | 'unlink' | 'syncDir' | 'readdir' | 'mkdir';

export interface CrashPlan {
  /** How many of a file's unsynced bytes, in write order, survive. Default: none. */
  keepUnsyncedBytes?: (path: string, unsyncedBytes: number) => number;
  /** Keep directory entries changed since the directory's last fsync. Default: undo them. */
  keepUnsyncedDirOps?: boolean;
}

type DataOp = { kind: 'write'; position: number; data: Buffer; before: Buffer; sizeBefore: number } | { kind: 'truncate'; length: number; tail: Buffer; sizeBefore: number };

type DirOp =
  | { kind: 'create'; path: string }
  | { kind: 'rename'; from: string; to: string; replaced: Buffer | undefined }
  | { kind: 'unlink'; path: string; content: Buffer };

interface Inode {
  path: string;
  unsynced: DataOp[];
}

export class FaultFs implements StorageFs {
  readonly counts: Record<FaultOp, number> = { read: 0, write: 0, writev: 0, datasync: 0, sync: 0, truncate: 0, open: 0, rename: 0, unlink: 0, syncDir: 0, readdir: 0, mkdir: 0 };
  private readonly inodes = new Map<string, Inode>();
  private dirOps: DirOp[] = [];
  private readonly failures = new Map<FaultOp, Error>();
  private readonly inflight = new Set<Promise<unknown>>();
  private generation = 0;
  private dead = false;

  constructor(readonly inner: StorageFs = nodeFs) {}

  /** Makes the next call of `op` fail with `error` (EIO by default). */
  failNext(op: FaultOp, error: Error = Object.assign(new Error(`injected ${op} failure`), { code: 'EIO' })): void {
    this.failures.set(op, error);
  }

  /** Bytes written to `path` since its last sync. */
  unsyncedBytes(path: string): number {
    const inode = this.inodes.get(path);
    return inode === undefined ? 0 : writtenBytes(inode.unsynced);
  }

  /**
   * A power cut: waits for calls in flight, then undoes what was not durable according to
   * `plan`. Every later call through this FaultFs fails, as the crashed process would
   * never make it; reopen storage through a new FaultFs over the same directories.
   */
  async crash(plan: CrashPlan = {}): Promise<void> {
    this.dead = true;
    this.generation += 1;
    await Promise.allSettled([...this.inflight]);
    for (const inode of this.inodes.values()) await this.rollBackData(inode, plan);
    if (plan.keepUnsyncedDirOps !== true) {
      for (const op of this.dirOps.reverse()) await this.undoDirOp(op);
    }
    this.inodes.clear();
    this.dirOps = [];
  }

  /** Flips every bit of the byte at `offset` of `path`, bypassing the journal. */
  async flipByte(path: string, offset: number): Promise<void> {
    const file = await this.inner.open(path, 'readWrite');
    try {
      const byte = Buffer.alloc(1);
      await file.read(byte, offset);
      byte[0] = byte[0]! ^ 0xff;
      await file.write(byte, offset);
    } finally {
      await file.close();
    }
  }

  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    return this.track('open', async () => {
      const creating = mode === 'createExclusive' || mode === 'createTruncate';
      const existed = creating ? await this.exists(path) : true;
      const sizeBefore = existed && mode === 'createTruncate' ? await this.sizeOf(path) : 0;
      const tail = sizeBefore > 0 ? await this.readRange(path, 0, sizeBefore) : Buffer.alloc(0);
      const file = await this.inner.open(path, mode);
      const inode = this.inode(path);
      if (!existed) this.dirOps.push({ kind: 'create', path });
      if (sizeBefore > 0) inode.unsynced.push({ kind: 'truncate', length: 0, tail, sizeBefore });
      return new FaultFile(this, file, inode, this.generation);
    });
  }

  readdir(dir: string): Promise<string[]> {
    return this.track('readdir', () => this.inner.readdir(dir));
  }

  mkdir(dir: string): Promise<void> {
    return this.track('mkdir', () => this.inner.mkdir(dir));
  }

  async rename(from: string, to: string): Promise<void> {
    await this.track('rename', async () => {
      const replaced = (await this.exists(to)) ? await this.readRange(to, 0, await this.sizeOf(to)) : undefined;
      await this.inner.rename(from, to);
      this.dirOps.push({ kind: 'rename', from, to, replaced });
      const inode = this.inodes.get(from);
      this.inodes.delete(from);
      this.inodes.delete(to);
      if (inode !== undefined) {
        inode.path = to;
        this.inodes.set(to, inode);
      }
    });
  }

  async unlink(path: string): Promise<void> {
    await this.track('unlink', async () => {
      const content = await this.readRange(path, 0, await this.sizeOf(path));
      await this.inner.unlink(path);
      this.dirOps.push({ kind: 'unlink', path, content });
      this.inodes.delete(path);
    });
  }

  async syncDir(dir: string): Promise<void> {
    await this.track('syncDir', async () => {
      await this.inner.syncDir(dir);
      this.dirOps = this.dirOps.filter((op) => dirname(op.kind === 'rename' ? op.to : op.path) !== dir);
    });
  }

  /** Runs a call unless it is injected to fail or a crash happened since `generation`. */
  async track<T>(op: FaultOp, run: () => Promise<T>, generation = this.generation): Promise<T> {
    if (this.dead || generation !== this.generation) throw Object.assign(new Error(`${op} after a simulated crash`), { code: 'EIO' });
    this.counts[op] += 1;
    const failure = this.failures.get(op);
    if (failure !== undefined) {
      this.failures.delete(op);
      throw failure;
    }
    const promise = run();
    this.inflight.add(promise);
    try {
      return await promise;
    } finally {
      this.inflight.delete(promise);
    }
  }

  async readRange(path: string, position: number, length: number): Promise<Buffer> {
    const file = await this.inner.open(path, 'read');
    try {
      const target = Buffer.alloc(Math.max(0, length));
      const read = await file.read(target, position);
      return target.subarray(0, read);
    } finally {
      await file.close();
    }
  }

  private inode(path: string): Inode {
    let inode = this.inodes.get(path);
    if (inode === undefined) {
      inode = { path, unsynced: [] };
      this.inodes.set(path, inode);
    }
    return inode;
  }

  private async exists(path: string): Promise<boolean> {
    try {
      await (await this.inner.open(path, 'read')).close();
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  private async sizeOf(path: string): Promise<number> {
    const file = await this.inner.open(path, 'read');
    try {
      return await file.size();
    } finally {
      await file.close();
    }
  }

  /** Undoes every unsynced change of one file, then replays the prefix the plan keeps. */
  private async rollBackData(inode: Inode, plan: CrashPlan): Promise<void> {
    if (inode.unsynced.length === 0 || !(await this.exists(inode.path))) return;
    const keepBytes = plan.keepUnsyncedBytes?.(inode.path, writtenBytes(inode.unsynced)) ?? 0;
    const file = await this.inner.open(inode.path, 'readWrite');
    try {
      for (const op of [...inode.unsynced].reverse()) await undoDataOp(file, op);
      await replayPrefix(file, inode.unsynced, keepBytes);
    } finally {
      await file.close();
    }
  }

  private async undoDirOp(op: DirOp): Promise<void> {
    if (op.kind === 'create') {
      if (await this.exists(op.path)) await this.inner.unlink(op.path);
      return;
    }
    if (op.kind === 'rename') {
      if (await this.exists(op.to)) await this.inner.rename(op.to, op.from);
      if (op.replaced !== undefined) await this.writeWhole(op.to, op.replaced);
      return;
    }
    await this.writeWhole(op.path, op.content);
  }

  private async writeWhole(path: string, content: Buffer): Promise<void> {
    const file = await this.inner.open(path, 'createTruncate');
    try {
      await file.write(content, 0);
    } finally {
      await file.close();
    }
  }
}

class FaultFile implements StorageFile {
  constructor(
    private readonly faults: FaultFs,
    private readonly inner: StorageFile,
    private readonly inode: Inode,
    private readonly generation: number,
  ) {}

  get path(): string {
    return this.inode.path;
  }

  read(target: Uint8Array, position: number): Promise<number> {
    return this.faults.track('read', () => this.inner.read(target, position), this.generation);
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.faults.track('write', () => this.journalledWrite(Buffer.from(data), position), this.generation);
  }

  writev(data: readonly Uint8Array[], position: number): Promise<void> {
    return this.faults.track('writev', () => this.journalledWrite(Buffer.concat(data), position), this.generation);
  }

  /** As writev then datasync, so that each can fail, or be cut short by a crash, on its own. */
  async writevDurable(data: readonly Uint8Array[], position: number): Promise<void> {
    await this.writev(data, position);
    await this.datasync();
  }

  datasync(): Promise<void> {
    return this.faults.track('datasync', () => this.syncWith(() => this.inner.datasync()), this.generation);
  }

  sync(): Promise<void> {
    return this.faults.track('sync', () => this.syncWith(() => this.inner.sync()), this.generation);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  truncate(length: number): Promise<void> {
    return this.faults.track(
      'truncate',
      async () => {
        const sizeBefore = await this.inner.size();
        const tail = length < sizeBefore ? await this.faults.readRange(this.inode.path, length, sizeBefore - length) : Buffer.alloc(0);
        await this.inner.truncate(length);
        this.inode.unsynced.push({ kind: 'truncate', length, tail, sizeBefore });
      },
      this.generation,
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async journalledWrite(data: Buffer, position: number): Promise<void> {
    const sizeBefore = await this.inner.size();
    const before = await this.faults.readRange(this.inode.path, position, Math.min(data.length, Math.max(0, sizeBefore - position)));
    await this.inner.write(data, position);
    this.inode.unsynced.push({ kind: 'write', position, data, before, sizeBefore });
  }

  private async syncWith(sync: () => Promise<void>): Promise<void> {
    const unsynced = this.inode.unsynced.length;
    await sync();
    // Writes made while the sync ran are not covered by it.
    this.inode.unsynced.splice(0, unsynced);
  }
}

function writtenBytes(ops: readonly DataOp[]): number {
  return ops.reduce((sum, op) => sum + (op.kind === 'write' ? op.data.length : 0), 0);
}

async function undoDataOp(file: StorageFile, op: DataOp): Promise<void> {
  if (op.kind === 'write') {
    if (op.before.length > 0) await file.write(op.before, op.position);
    await file.truncate(op.sizeBefore);
    return;
  }
  if (op.tail.length > 0) await file.write(op.tail, op.length);
  await file.truncate(op.sizeBefore);
}

/** Re-applies unsynced changes in order until `keepBytes` written bytes are used up. */
async function replayPrefix(file: StorageFile, ops: readonly DataOp[], keepBytes: number): Promise<void> {
  let budget = keepBytes;
  for (const op of ops) {
    if (budget <= 0) return;
    if (op.kind === 'truncate') {
      await file.truncate(op.length);
      continue;
    }
    const kept = op.data.subarray(0, Math.min(budget, op.data.length));
    await file.write(kept, op.position);
    budget -= kept.length;
  }
}
