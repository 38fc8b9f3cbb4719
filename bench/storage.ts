/**
 * Storage benchmark: group-commit append throughput, and the write and load of a snapshot
 * of a 1,000,000-znode tree (the server's snapshot path and recovery's load path). Every
 * phase is bounded in time and count.
 *
 *   npm run bench:storage
 */
import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { openAclUnsafe } from '../src/data/acl.js';
import { DataTree } from '../src/data/data-tree.js';
import { BlockPool, TreeSnapshotLoader, treeSnapshotRecords } from '../src/data/tree-snapshot.js';
import { OpCode } from '../src/protocol/constants.js';
import { SnapshotStore, TxnLog } from '../src/storage/index.js';

const log = pino({ level: 'warn' });
const txnBytes = 128;
const appendPhaseMsMax = 3000;
const appendPhaseCountMax = 500_000;
const writerCounts = [1, 16, 256] as const;
const snapshotNodeCount = 1_000_000;

interface AppendResult {
  writers: number;
  preallocate: boolean;
  appends: number;
  fsyncs: number;
  seconds: number;
}

async function benchAppends(writers: number, preallocate: boolean): Promise<AppendResult> {
  const dir = await mkdtemp(join(tmpdir(), 'zkts-bench-log-'));
  let fsyncs = 0;
  const txnLog = await TxnLog.open({ dir, log, preallocateBytes: preallocate ? undefined : 0, onDurable: () => void (fsyncs += 1) });
  const payload = randomFillSync(Buffer.alloc(txnBytes));
  let counter = 0;
  const started = performance.now();
  const deadline = started + appendPhaseMsMax;
  const writer = async (): Promise<void> => {
    while (performance.now() < deadline && counter < appendPhaseCountMax) {
      counter += 1;
      await txnLog.append((1n << 32n) | BigInt(counter), payload);
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  const seconds = (performance.now() - started) / 1000;
  await txnLog.close();
  await rm(dir, { recursive: true, force: true });
  return { writers, preallocate, appends: counter, fsyncs, seconds };
}

/** A tree of `count` znodes of 128 random bytes, 1000 children a parent, built in process. */
function buildTree(count: number): DataTree {
  const tree = new DataTree({ extendedTypesEnabled: false });
  // Random bytes for every znode's data: the worst case for compression.
  const randomData = randomFillSync(Buffer.allocUnsafe(count * 128));
  let zxid = 1n << 32n;
  const apply = (path: string, data: Buffer | null): void => {
    tree.apply({ zxid: ++zxid, time: 1_700_000_000_000, sessionId: 0n, cxid: 0, authIds: [], op: { type: OpCode.create, request: { path, data, acl: [...openAclUnsafe], flags: 0 } } });
  };
  for (let i = 0; i < count; i++) {
    if (i % 1000 === 0) apply(`/p${i / 1000}`, null);
    apply(`/p${Math.floor(i / 1000)}/c${i}`, randomData.subarray(i * 128, i * 128 + 128));
  }
  return tree;
}

interface SnapshotResult {
  compress: boolean;
  writeSeconds: number;
  loadSeconds: number;
  bytes: number;
  stallMsMax: number;
  loaded: number;
}

/** Writes the tree's snapshot as the server does, then loads it as recovery does. */
async function benchSnapshot(tree: DataTree, compress: boolean): Promise<SnapshotResult> {
  const dir = await mkdtemp(join(tmpdir(), 'zkts-bench-snap-'));
  const store = await SnapshotStore.open({ dir, log, compress });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let started = performance.now();
  const pool = new BlockPool();
  const info = await store.writeSnapshot(tree.lastZxid, treeSnapshotRecords(tree, undefined, pool), { written: (record) => pool.giveRecord(record) });
  const writeSeconds = (performance.now() - started) / 1000;
  delay.disable();
  started = performance.now();
  const snapshot = (await store.streamSnapshots().next()).value!;
  const loader = new TreeSnapshotLoader({ extendedTypesEnabled: false });
  for await (const batch of snapshot.batches) for (const record of batch) loader.add(record);
  const loaded = loader.finish().nodeCount;
  const loadSeconds = (performance.now() - started) / 1000;
  await rm(dir, { recursive: true, force: true });
  return { compress, writeSeconds, loadSeconds, bytes: info.bytes, stallMsMax: delay.max / 1e6, loaded };
}

function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

async function main(): Promise<void> {
  console.log(`txn log: ${txnBytes}-byte txns, each phase up to ${appendPhaseMsMax} ms or ${appendPhaseCountMax} appends`);
  for (const preallocate of [true, false]) {
    for (const writers of writerCounts) {
      const r = await benchAppends(writers, preallocate);
      console.log(
        `  writers=${String(r.writers).padStart(3)} preallocate=${r.preallocate ? 'yes' : 'no '}  appends/s=${Math.round(r.appends / r.seconds)
          .toString()
          .padStart(7)}  fsyncs/s=${Math.round(r.fsyncs / r.seconds)
          .toString()
          .padStart(5)}  txns/fsync=${(r.appends / r.fsyncs).toFixed(1)}`,
      );
    }
  }
  const started = performance.now();
  const tree = buildTree(snapshotNodeCount);
  console.log(`snapshot: a tree of ${tree.nodeCount} znodes (${snapshotNodeCount} of random 128-byte data, 1000 a parent) built in ${((performance.now() - started) / 1000).toFixed(2)} s, peak RSS ${peakRssMb()} MB`);
  for (const compress of [false, true]) {
    const r = await benchSnapshot(tree, compress);
    console.log(
      `  compress=${compress ? 'yes' : 'no '}  write=${r.writeSeconds.toFixed(2)} s  load=${r.loadSeconds.toFixed(2)} s  size=${(r.bytes / 1e6).toFixed(1)} MB (${(r.bytes / 2 ** 20).toFixed(1)} MiB)  max event-loop stall during write=${r.stallMsMax.toFixed(1)} ms  loaded=${r.loaded}`,
    );
  }
  console.log(`peak RSS ${peakRssMb()} MB`);
}

await main();
