// A follower killed while the others write more than the leader's DIFF window, and more bytes
// than one peer frame may hold, comes back by SNAP: the snapshot travels in chunks and the
// follower ends with the same tree. With the whole snapshot in one frame the follower would
// refuse the frame (it is over the limit) and never catch up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZooKeeperClient } from '../../src/client/index.js';
import { peerFrameBytesFor } from '../../src/quorum/peer-options.js';
import { scaled } from '../../src/testing/wait.js';
import { closeClient, closeClients, connectTo, eventually, treeOn } from './clients.js';
import { Cluster } from './cluster-harness.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';

/** The leader keeps this many committed txns for DIFF (committedLogWindowMax). */
const diffWindowTxns = 500;
const nodes = diffWindowTxns + 100;
const valueBytes = 10 * 1024;
const frameBytesMax = peerFrameBytesFor(1048575);

let cluster: Cluster | undefined;
beforeAll(async () => {
  cluster = await Cluster.start({ participants: 3 });
}, scaled(30_000));

afterAll(async () => {
  await closeClients();
  await cluster?.destroy();
});

dumpClusterLogsOnFailure(() => cluster);

async function createMany(client: ZooKeeperClient, parent: string, count: number, inFlight = 50): Promise<void> {
  for (let start = 0; start < count; start += inFlight) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(count, start + inFlight); i++) {
      batch.push(client.create(`${parent}/n${String(i).padStart(4, '0')}`, Buffer.alloc(valueBytes, i % 251)));
    }
    await Promise.all(batch);
  }
}

describe('SNAP of a tree larger than a peer frame, with real processes', () => {
  it('brings back a follower that missed more than the DIFF window and more bytes than a frame holds', async () => {
    expect(nodes * valueBytes).toBeGreaterThan(frameBytesMax);
    const ensemble = cluster!;
    const leader = await ensemble.waitForLeader();
    const follower = ensemble.members.find((m) => m !== leader)!;
    const survivors = ensemble.members.filter((m) => m !== follower);
    await follower.kill();

    const writer = await connectTo(survivors);
    await eventually(() => writer.create('/big', null), 'a write without the follower');
    await createMany(writer, '/big', nodes);
    await closeClient(writer);

    const mark = follower.logMark();
    await ensemble.restart(follower, 30_000);
    await ensemble.waitForSameZxid(ensemble.members, 30_000);
    // SNAP: the leader's snapshot, larger than a frame, was written to this member's disk and its log dropped.
    const written = follower.logged('snapshot written', mark);
    expect(written.length, 'snapshots written after the restart').toBeGreaterThanOrEqual(1);
    expect(Number(written[0]!.bytes)).toBeGreaterThan(frameBytesMax);
    expect(follower.logged('txn log truncated', mark).map((r) => r.truncatedAfter)).toContain('0x0');
    expect(follower.logged('bad peer frame; closing connection', mark)).toEqual([]);

    const trees = await Promise.all(ensemble.members.map(async (m) => Object.entries(await treeOn(m, '/big')).map(([p, v]) => `${p}:${v.length}:${v.charCodeAt(0)}`)));
    expect(trees[0]).toHaveLength(nodes + 1);
    for (const tree of trees) expect(tree).toEqual(trees[0]);
  });
});
