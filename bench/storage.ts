/**
 * Storage benchmark: group-commit append throughput and snapshot write/load of 1,000,000
 * znode-shaped records. Every phase is bounded in time and count.
 *
 *   npm run bench:storage
 */
import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { SnapshotStore, TxnLog } from '../src/storage/index.js';

const log = pino({ level: 'warn' });
const txnBytes = 128;
const appendPhaseMsMax = 3000;
const appendPhaseCountMax = 500_000;
const writerCounts = [1, 16, 256] as const;
const snapshotRecordCount = 1_000_000;

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

function znodeRecord(i: number, randomData: Buffer): Record<string, unknown> {
  const zxid = (1n << 32n) | BigInt(i + 1);
  return {
    path: `/p${i % 1000}/c${i}`,
    data: Buffer.from(randomData.subarray(i * 128, i * 128 + 128)),
    acl: 0,
    czxid: zxid,
    mzxid: zxid,
    ctime: 1_700_000_000_000 + i,
    mtime: 1_700_000_000_000 + i,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: 0n,
    pzxid: zxid,
  };
}

interface SnapshotResult {
  compress: boolean;
  writeSeconds: number;
  loadSeconds: number;
  bytes: number;
  stallMsMax: number;
  loaded: number;
}

async function benchSnapshot(records: readonly Record<string, unknown>[], compress: boolean): Promise<SnapshotResult> {
  const dir = await mkdtemp(join(tmpdir(), 'zkts-bench-snap-'));
  const store = await SnapshotStore.open({ dir, log, compress });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let started = performance.now();
  const info = await store.writeSnapshot(0x1_0000_0000n + BigInt(records.length), records);
  const writeSeconds = (performance.now() - started) / 1000;
  delay.disable();
  started = performance.now();
  const snapshot = await store.loadLatestSnapshot();
  let loaded = 0;
  for await (const record of snapshot!.records) if (record !== undefined) loaded += 1;
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
  let started = performance.now();
  // Random bytes for every record's data: the worst case for compression.
  const randomData = randomFillSync(Buffer.allocUnsafe(snapshotRecordCount * 128));
  const records = Array.from({ length: snapshotRecordCount }, (_, i) => znodeRecord(i, randomData));
  console.log(`snapshot: ${snapshotRecordCount} znode records (random 128-byte data) built in ${((performance.now() - started) / 1000).toFixed(2)} s, peak RSS ${peakRssMb()} MB`);
  for (const compress of [true, false]) {
    const r = await benchSnapshot(records, compress);
    console.log(
      `  compress=${compress ? 'yes' : 'no '}  write=${r.writeSeconds.toFixed(2)} s  load=${r.loadSeconds.toFixed(2)} s  size=${(r.bytes / 1e6).toFixed(1)} MB (${(r.bytes / 2 ** 20).toFixed(1)} MiB)  max event-loop stall during write=${r.stallMsMax.toFixed(1)} ms  loaded=${r.loaded}`,
    );
  }
  started = performance.now();
  console.log(`peak RSS ${peakRssMb()} MB`);
}

await main();
