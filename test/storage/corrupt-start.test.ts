// A real standalone server started on a damaged txn log: a flipped byte in the middle of a
// segment is corruption (the server refuses to start and names the file and offset); a torn
// last record is what a crash leaves (the server cuts it with a warning naming the file and
// offset, and serves everything before it).
import { closeSync, openSync, readdirSync, readSync, statSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, ErrorCode, type ZooKeeperClient } from '../../src/client/index.js';
import { makeServerDir, ServerProcess, srvrZxid, type ServerDir } from './crash-harness.js';

const nodeCount = 120;
/** Segment header and record header sizes of src/storage/txn-record.ts. */
const segmentHeaderBytes = 24;
const recordHeaderBytes = 20;

let dir: ServerDir | undefined;
let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.kill();
  dir?.remove();
  server = undefined;
  dir = undefined;
});

async function connect(port: number): Promise<ZooKeeperClient> {
  const client = createClient(`127.0.0.1:${port}`, { sessionTimeout: 10_000, closeTimeout: 200 });
  await client.connect();
  return client;
}

function payloadFor(i: number): Buffer {
  return Buffer.from(`node ${i} `.padEnd(200, String.fromCharCode(97 + (i % 26))));
}

/**
 * A dataDir whose txn log holds `nodeCount` creates, the last txn being the create of the
 * last node (the server is SIGKILLed before the session could close). Snapshots are off.
 */
async function writeNodesThenKill(): Promise<{ dir: ServerDir; lastZxid: bigint }> {
  const serverDir = await makeServerDir({ snapCount: 1_000_000 });
  dir = serverDir;
  const proc = ServerProcess.spawn(serverDir.configPath);
  server = proc;
  await proc.serving();
  const client = await connect(serverDir.port);
  let lastZxid = 0n;
  for (let i = 0; i < nodeCount; i++) lastZxid = (await client.create(`/n${i}`, payloadFor(i))).stat.czxid;
  await proc.kill();
  await client.close().catch(() => undefined);
  return { dir: serverDir, lastZxid };
}

interface RecordSpan {
  offset: number;
  end: number;
}

/** The only segment in dataDir (dataLogDir is dataDir) and its records' spans. */
function readSegment(dataDir: string): { file: string; records: RecordSpan[] } {
  const names = readdirSync(dataDir).filter((name) => name.startsWith('log.'));
  expect(names, 'txn log segments').toHaveLength(1);
  const file = path.join(dataDir, names[0]!);
  const fd = openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(statSync(file).size);
    readSync(fd, bytes, 0, bytes.length, 0);
    const records: RecordSpan[] = [];
    // A record header of zeros starts the preallocated tail.
    for (let offset = segmentHeaderBytes; offset + recordHeaderBytes <= bytes.length && bytes.readUInt32BE(offset) !== 0; ) {
      const end = offset + recordHeaderBytes + bytes.readUInt32BE(offset + 4);
      records.push({ offset, end });
      offset = end;
    }
    return { file, records };
  } finally {
    closeSync(fd);
  }
}

function flipByte(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0x5a;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

describe('standalone server start on a damaged txn log', () => {
  it('refuses to start on a byte flipped in the middle of a segment, naming the file and offset', async () => {
    const { dir: serverDir } = await writeNodesThenKill();
    const { file, records } = readSegment(serverDir.dataDir);
    expect(records.length).toBeGreaterThanOrEqual(nodeCount);
    const damaged = records[Math.floor(records.length / 2)]!;
    flipByte(file, damaged.offset + recordHeaderBytes + 10);

    const proc = ServerProcess.spawn(serverDir.configPath);
    server = proc;
    const exit = await proc.exited;
    expect(exit.code, proc.describe()).not.toBe(0);
    expect(exit.code, proc.describe()).not.toBeNull();
    expect(proc.stderr).toContain(file);
    expect(proc.stderr).toContain(`offset ${damaged.offset}`);
    const fatal = proc.lines.find((line) => line.level === 60);
    expect(fatal, proc.describe()).toBeDefined();
    const err = fatal!['err'] as { file?: string; offset?: number };
    expect(err.file).toBe(file);
    expect(err.offset).toBe(damaged.offset);
    expect(proc.logs('serving clients')).toHaveLength(0);
  });

  it('cuts a torn last record with a warning naming the file and offset, and serves everything before it', async () => {
    const { dir: serverDir, lastZxid } = await writeNodesThenKill();
    const { file, records } = readSegment(serverDir.dataDir);
    const last = records.at(-1)!;
    // What a crash in the middle of writing the last record leaves: its last bytes missing.
    truncateSync(file, last.end - 5);

    const proc = ServerProcess.spawn(serverDir.configPath);
    server = proc;
    await proc.serving();
    const warning = proc.logs('torn txn log tail truncated')[0];
    expect(warning, proc.describe()).toBeDefined();
    expect(warning!.level).toBe(40);
    expect(warning!['file']).toBe(file);
    expect(warning!['offset']).toBe(last.offset);
    expect(await srvrZxid(serverDir.port)).toBe(lastZxid - 1n);

    const client = await connect(serverDir.port);
    try {
      const children = await client.getChildren('/');
      expect(children.filter((name) => name.startsWith('n'))).toHaveLength(nodeCount - 1);
      for (let i = 0; i < nodeCount - 1; i++) {
        const { data, stat } = await client.getData(`/n${i}`);
        expect(Buffer.from(data!).equals(payloadFor(i)), `/n${i} data`).toBe(true);
        expect(stat.version).toBe(0);
      }
      await expect(client.getData(`/n${nodeCount - 1}`)).rejects.toMatchObject({ code: ErrorCode.NONODE });
      // The log goes on from the cut (this session took the torn record's zxid) and a new
      // write survives a restart.
      const created = await client.create(`/n${nodeCount - 1}`, 'again');
      expect(created.stat.czxid).toBeGreaterThanOrEqual(lastZxid);
    } finally {
      await client.close();
    }
    await proc.kill();
    const again = ServerProcess.spawn(serverDir.configPath);
    server = again;
    await again.serving();
    expect(again.logs('torn txn log tail truncated')).toHaveLength(0);
    const client2 = await connect(serverDir.port);
    try {
      expect(Buffer.from((await client2.getData(`/n${nodeCount - 1}`)).data!).toString()).toBe('again');
    } finally {
      await client2.close();
    }
  });
});
