// assertConverged compares every live member's last zxid and tree digest (the `hash` four-letter
// word). To make a member diverge, it is stopped, one byte string in its txn log is rewritten
// (checksums fixed, so the log stays valid) and it is started again: it replays the altered
// txn, rejoins at the same zxid as the others (nothing to sync), and holds different data.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeRecordHeader, recordHeaderBytes, segmentHeaderBytes } from '../../src/storage/txn-record.js';
import { TestingCluster } from '../../src/testing/index.js';
import { scaled } from '../../src/testing/wait.js';
import { closeAll, connect } from './clients.js';

let cluster: TestingCluster;

beforeAll(async () => {
  cluster = await TestingCluster.start({ size: 3, tickTime: 100 });
}, scaled(60_000));
afterAll(async () => {
  await cluster?.close();
});
afterEach(async (context) => {
  await closeAll();
  if (context.task.result?.state === 'fail') process.stderr.write(`\n${cluster.logTails(30)}\n`);
});

async function logFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await logFiles(full)));
    else if (entry.name.startsWith('log.')) out.push(full);
  }
  return out;
}

/** Replaces `from` with `to` (same length) inside the one logged txn that holds it, fixing that record's CRCs. */
async function rewriteLoggedBytes(dataDir: string, from: string, to: string): Promise<void> {
  for (const file of await logFiles(dataDir)) {
    const bytes = await readFile(file);
    const at = bytes.indexOf(from);
    if (at < 0) continue;
    let offset = segmentHeaderBytes;
    for (;;) {
      const length = bytes.readUInt32BE(offset + 4);
      const payloadStart = offset + recordHeaderBytes;
      if (at >= payloadStart && at < payloadStart + length) {
        bytes.write(to, at, 'latin1');
        writeRecordHeader(bytes, offset, bytes.readBigUInt64BE(offset + 8), bytes.subarray(payloadStart, payloadStart + length));
        await writeFile(file, bytes);
        return;
      }
      offset = payloadStart + length;
    }
  }
  throw new Error(`no txn log under ${dataDir} holds ${from}`);
}

describe('assertConverged', () => {
  it('resolves with the common zxid and digest once the members agree, and rejects, naming the member, when one holds different data at the same zxid', async () => {
    const c = await connect(cluster.connectString);
    await c.zk.create('/converge', 'original-value');
    const agreed = await cluster.assertConverged();
    expect(agreed.digest).not.toBe(0n);

    await cluster.waitForLeader();
    const victim = cluster.followers()[0]!;
    await cluster.stop(victim);
    await rewriteLoggedBytes(cluster.server(victim).dataDir, 'original-value', 'tampered-value');
    await cluster.start(victim);

    const failure = await cluster.assertConverged({ timeoutMs: 2_000 }).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/did not converge/);
    const reported = new Map([...failure!.matchAll(/server (\d+): zxid (0x[0-9a-f]+), digest (\d+)/g)].map((m) => [Number(m[1]), { zxid: m[2], digest: m[3] }]));
    expect([...reported.keys()].sort()).toEqual([1, 2, 3]);
    const others = [...reported].filter(([id]) => id !== victim).map(([, r]) => r);
    expect(new Set([...reported.values()].map((r) => r.zxid)).size, failure!).toBe(1);
    expect(others[0]!.digest).toBe(others[1]!.digest);
    expect(reported.get(victim)!.digest).not.toBe(others[0]!.digest);
    const reader = await connect(cluster.server(victim).directConnectString);
    expect((await reader.zk.getData('/converge')).data?.toString()).toBe('tampered-value');
  });
});
