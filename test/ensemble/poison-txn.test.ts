// A committed txn that no validator would have let through must not stop a member: three
// ensemble members in this process, on real sockets and real storage in temporary directories,
// are handed txns below the request validator (straight to the leader's committer, and raw
// bytes straight into its consensus core). Every member applies each as a deterministic error,
// stays up, keeps serving, agrees with the others, and starts again from that log.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig, type ServerConfig } from '../../src/config/config.js';
import type { DataTree } from '../../src/data/data-tree.js';
import type { ApplyResult } from '../../src/data/tree-ops.js';
import type { TxnOp } from '../../src/data/txn.js';
import { silentLogger } from '../../src/logger.js';
import { ErrorCode, OpCode } from '../../src/protocol/constants.js';
import type { QuorumEvent } from '../../src/quorum/index.js';
import { ensembleMember } from '../../src/server/assemble.js';
import type { ServerNode } from '../../src/server/node.js';
import { Snapshotter, memberStorage, recoverEnsemble, type MemberStorage } from '../../src/server/persistence.js';
import { waitFor } from '../../src/testing/wait.js';
import { RawSession, createBody, pathWatchBody } from '../protocol/raw-requests.js';
import { freePort } from '../support/net.js';

interface Spec {
  sid: number;
  clientPort: number;
  quorumPort: number;
  electionPort: number;
  dir: string;
}

let specs: Spec[] = [];
let members: ServerNode[] = [];
let disks: MemberStorage[] = [];
let root = '';

async function startMember(spec: Spec, all: readonly Spec[]): Promise<ServerNode> {
  const props = new Map<string, string>([
    ['tickTime', '200'],
    ['initLimit', '10'],
    ['syncLimit', '5'],
    ['dataDir', spec.dir],
    ['clientPort', String(spec.clientPort)],
    ['clientPortAddress', '127.0.0.1'],
    ...all.map((s): [string, string] => [`server.${s.sid}`, `127.0.0.1:${s.quorumPort}:${s.electionPort};${s.clientPort}`]),
  ]);
  const config = buildConfig(props, null).config as ServerConfig;
  const log = silentLogger();
  const { recovery, storage } = await recoverEnsemble(config, log);
  let server: ServerNode | null = null;
  const snapshotter = new Snapshotter(storage, () => server!.tree, config, log);
  const disk = memberStorage(storage, snapshotter);
  disks.push(disk);
  const onFatal = (err: unknown) => queueMicrotask(() => {
    throw err;
  });
  server = ensembleMember({ config, log, serverId: spec.sid, storage: disk, recovery, onFatal });
  await server.start();
  return server;
}

async function startAll(): Promise<void> {
  members = await Promise.all(specs.map((s) => startMember(s, specs)));
  await waitFor(
    'a leader and two followers',
    () => {
      const modes = members.map((m) => m.mode()).sort();
      return modes.join(',') === 'follower,follower,leader';
    },
    { timeoutMs: 30_000 },
  );
}

async function stopAll(): Promise<void> {
  await Promise.all(members.map((m) => m.stop()));
  await Promise.all(disks.map((d) => d.close()));
  members = [];
  disks = [];
}

function leader(): ServerNode {
  const found = members.find((m) => m.mode() === 'leader');
  if (found === undefined) throw new Error('no leader');
  return found;
}

/** Everything a client can see of a tree, node by node. */
function treeImage(tree: DataTree): string[] {
  const lines: string[] = [];
  for (const p of tree.paths()) {
    const node = tree.getNode(p)!;
    const stat = tree.statOf(node);
    lines.push(`${p} ${node.data?.toString('hex') ?? 'null'} ${JSON.stringify(node.acl)} ${Object.values(stat).join(',')}`);
  }
  return lines;
}

/** All members at the same zxid with the same tree; returns that zxid. */
async function converged(): Promise<bigint> {
  return waitFor(
    'every member at the same zxid',
    () => {
      const zxids = new Set(members.map((m) => m.tree.lastZxid));
      return zxids.size === 1 ? [...zxids][0]! : undefined;
    },
    { timeoutMs: 20_000 },
  ).then((zxid) => {
    const images = members.map((m) => treeImage(m.tree));
    for (const image of images.slice(1)) expect(image).toEqual(images[0]);
    return zxid;
  });
}

/** A write handed to the leader's committer as it is, with no validation. */
function submitUnvalidated(server: ServerNode, sessionId: bigint, op: TxnOp): Promise<ApplyResult> {
  return new Promise((resolve, reject) => {
    server.committer.submit({ sessionId, cxid: 1, authIds: [], op }, { committed: (_txn, result) => resolve(result), lost: reject });
  });
}

/** Raw bytes as a client write's payload, into the leader's consensus core (the consensus driver's own queue). */
function proposeRaw(server: ServerNode, payload: Uint8Array): void {
  (server.replication.committer as unknown as { enqueue(event: QuorumEvent): void }).enqueue({ kind: 'clientWrite', requestId: 1_000_000, payload });
}

/** Every member answers a create and a read from a client of its own. */
async function everyMemberServes(tag: string): Promise<void> {
  for (const m of members) {
    const s = await RawSession.open(m.port);
    try {
      const path = `/served-${tag}-${m.serverId}`;
      expect((await s.answer(OpCode.create, createBody({ path }))).err).toBe(0);
      expect((await s.answer(OpCode.exists, pathWatchBody(path))).err).toBe(0);
    } finally {
      s.close();
    }
  }
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', moreTypes: false });

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'zkts-poison-'));
  specs = [];
  for (const sid of [1, 2, 3]) {
    specs.push({ sid, clientPort: await freePort(), quorumPort: await freePort(), electionPort: await freePort(), dir: path.join(root, `m${sid}`) });
  }
  await startAll();
}, 60_000);

afterAll(async () => {
  await stopAll();
  if (root !== '') await rm(root, { recursive: true, force: true });
});

describe('a committed txn that validation would have refused', () => {
  let zxidBefore = 0n;
  let image: string[] = [];

  it('a create with a null ACL scheme applies as INVALIDACL on every member, which stay up and agree', async () => {
    await everyMemberServes('before');
    const session = await RawSession.open(leader().port);
    zxidBefore = await converged();
    const op = { type: OpCode.create, request: { path: '/poison', data: null, acl: [{ perms: 31, id: { scheme: null as unknown as string, id: 'anyone' } }], flags: 0 } } as TxnOp;
    const result = await submitUnvalidated(leader(), session.sessionId, op);
    session.close();
    expect(result.err).toBe(ErrorCode.INVALIDACL);
    const zxid = await converged();
    expect(zxid).toBe(zxidBefore + 1n);
    for (const m of members) expect(m.tree.getNode('/poison')).toBeUndefined();
    await everyMemberServes('after-null-scheme');
  });

  it('bytes that are not a txn, and a txn with a field of the wrong type, apply as MARSHALLINGERROR and take their zxid', async () => {
    const before = await converged();
    proposeRaw(leader(), Buffer.from([0xc1, 0xff, 0x00]));
    proposeRaw(leader(), packr.pack([1, 0n, 1_700_000_000_000, 0n, 1, [], OpCode.create, 42, null, null, 0, null]));
    proposeRaw(leader(), packr.pack([1, 0n, 1_700_000_000_000, 0n, 1, [], OpCode.multi, [[OpCode.multi, []]]]));
    proposeRaw(leader(), packr.pack({ zxid: 0n, time: 'noon', op: { type: OpCode.create } }));
    const after = await waitFor('the four raw txns applied everywhere', async () => {
      const zxid = await converged();
      return zxid === before + 4n ? zxid : undefined;
    }, { timeoutMs: 20_000 });
    expect(after).toBe(before + 4n);
    for (const m of members) expect(m.mode()).not.toBe('looking');
    await everyMemberServes('after-raw');
    image = treeImage(members[0]!.tree);
  });

  it('every member starts again from that log, to the same zxid and tree, and serves', async () => {
    const zxid = await converged();
    await stopAll();
    await startAll();
    // A new epoch's first zxid may be above; the tree is what was committed.
    const restarted = await converged();
    expect(restarted).toBeGreaterThanOrEqual(zxid);
    expect(treeImage(members[0]!.tree)).toEqual(image);
    await everyMemberServes('after-restart');
  }, 90_000);
});
