// The fuzzer's find, against three real `zkts server` processes: a create whose ACL entry has a
// null scheme (a jute string of length -1), sent as raw bytes on the client port of each member.
// It used to be proposed, committed, and then stop every member when applied (exit 70, and again
// on every restart). Now it is refused when decoded: the sender gets INVALIDACL, nothing is
// proposed, and all three members stay up, serving, with the same tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OpCode } from '../../src/protocol/constants.js';
import { scaled } from '../../src/testing/wait.js';
import { RawSession, createBody, multiBody, multiResults, setAclBody, type RawAcl } from '../protocol/raw-requests.js';
import { Cluster } from './cluster-harness.js';
import { treeOn } from './clients.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';

let cluster: Cluster | undefined;
const ensemble = (): Cluster => {
  if (cluster === undefined) throw new Error('ensemble not started');
  return cluster;
};

beforeAll(async () => {
  cluster = await Cluster.start({ participants: 3 });
}, scaled(30_000));

afterAll(async () => {
  await cluster?.destroy();
});

dumpClusterLogsOnFailure(() => cluster);

const nullScheme: RawAcl[] = [{ perms: 31, scheme: null, id: 'anyone' }];

describe('a create with a null ACL scheme, as raw bytes on the client port', () => {
  it('is answered INVALIDACL by every member, proposes nothing, and leaves all three up, serving and agreeing', async () => {
    const members = ensemble().members;
    const setup = await RawSession.open(members[0]!.clientPort);
    expect((await setup.answer(OpCode.create, createBody({ path: '/kept', data: Buffer.from('before') }))).err).toBe(0);
    setup.close();
    const sessions = await Promise.all(members.map((m) => RawSession.open(m.clientPort)));
    const zxidBefore = await ensemble().waitForSameZxid();
    const marks = members.map((m) => m.logMark());

    for (const [i, s] of sessions.entries()) {
      const create = await s.answer(OpCode.create, createBody({ path: `/poison-${i}`, acl: nullScheme }));
      expect(create.err).toBe(ErrorCode.INVALIDACL);
      expect(create.zxid).toBe(zxidBefore);
      const setAcl = await s.answer(OpCode.setACL, setAclBody('/kept', nullScheme));
      expect(setAcl.err).toBe(ErrorCode.INVALIDACL);
      const multi = await s.answer(OpCode.multi, multiBody([{ type: OpCode.create, create: { path: `/poison-multi-${i}`, acl: nullScheme } }]));
      expect(multi.err).toBe(0);
      expect(multiResults(multi.body)).toEqual([[-1, ErrorCode.INVALIDACL]]);
      // The sender's connection stays open (ZooKeeper keeps it too).
      expect(await s.closedByServer()).toBe(false);
    }

    // Nothing was proposed: the zxid did not move, and no member stopped.
    expect(await ensemble().waitForSameZxid()).toBe(zxidBefore);
    for (const m of members) expect({ sid: m.sid, running: m.running, exit: m.exit }).toEqual({ sid: m.sid, running: true, exit: null });
    const modes = (await Promise.all(members.map((m) => m.status()))).map((s) => s?.mode).sort();
    expect(modes).toEqual(['follower', 'follower', 'leader']);

    // Each refusal was logged where it was decoded, with the field and the session.
    for (const [i, m] of members.entries()) {
      const refused = m.logged('request refused', marks[i]);
      expect(refused.map((r) => r.field)).toEqual(['acl[0].scheme', 'acl[0].scheme', 'ops[0](create).acl[0].scheme']);
      expect(refused[0]!.session).toBe(`0x${sessions[i]!.sessionId.toString(16)}`);
    }

    // Still serving writes, and one tree everywhere.
    const writer = sessions[1]!;
    expect((await writer.answer(OpCode.create, createBody({ path: '/kept/after', data: Buffer.from('after') }))).err).toBe(0);
    await ensemble().waitForSameZxid();
    const trees = await Promise.all(members.map((m) => treeOn(m, '/')));
    expect(trees[0]!['/kept/after']).toBe('after');
    expect(Object.keys(trees[0]!).filter((p) => p.startsWith('/poison'))).toEqual([]);
    for (const tree of trees.slice(1)) expect(tree).toEqual(trees[0]);
    for (const s of sessions) s.close();
  });
});
