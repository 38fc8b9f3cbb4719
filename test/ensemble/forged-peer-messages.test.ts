// The election port of a real three-member ensemble, attacked from outside: the peer messages
// that crashed members in a fuzzing run (a REQUESTREJECTED or SYNC without an origin, a zxid
// that is not a bigint, a missing zxid, a SNAP without its bytes), sent as the first frame and
// again after a hello that looks valid (a configured id, larger than the member's, from the
// member's own host: without TLS or a shared secret that is all a member can check). Afterwards
// every member is up, serving, and holds the same tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerFrameBytesFor } from '../../src/quorum/peer-options.js';
import { scaled } from '../../src/testing/wait.js';
import { PeerForger } from '../support/peer-forger.js';
import { closeClient, closeClients, connectTo, eventually, treeOn } from './clients.js';
import { Cluster, waitFor, type Member } from './cluster-harness.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';

let cluster: Cluster | undefined;
const ensemble = (): Cluster => {
  if (cluster === undefined) throw new Error('ensemble not started');
  return cluster;
};
const forgers: PeerForger[] = [];

beforeAll(async () => {
  cluster = await Cluster.start({ participants: 3 });
}, scaled(30_000));

afterAll(async () => {
  for (const f of forgers) f.destroy();
  await closeClients();
  await cluster?.destroy();
});

dumpClusterLogsOnFailure(() => cluster);

async function forger(member: Member, localAddress?: string): Promise<PeerForger> {
  const f = await PeerForger.connect({ port: member.electionPort, localAddress });
  forgers.push(f);
  return f;
}

const forged: [string, Record<string, unknown>][] = [
  ['REQUESTREJECTED without an origin', { type: 'requestRejected', reason: 'busy' }],
  ['SYNC without an origin', { type: 'sync' }],
  ['PROPOSAL whose zxid is a number', { type: 'proposal', zxid: 4294967297, payload: new Uint8Array(8), origin: null }],
  ['TRUNC without a zxid', { type: 'trunc' }],
  ['SNAP without its bytes', { type: 'snap', zxid: 1n }],
];

/** Every member serving, on one zxid, with one tree. */
async function expectHealthy(): Promise<void> {
  const members = ensemble().members;
  for (const m of members) expect(m.exit, `server ${m.sid} exited`).toBeNull();
  await ensemble().waitForLeader({ timeoutMs: 20_000 });
  await ensemble().waitForServing(members);
  const writer = await connectTo(members);
  await eventually(() => writer.create(`/after-${Date.now()}`, 'still committing'), 'a write after the attack', 20_000);
  await closeClient(writer);
  await ensemble().waitForSameZxid(members);
  const trees = await Promise.all(members.map((m) => treeOn(m, '/')));
  for (const [i, tree] of trees.entries()) expect(tree, `tree on server ${members[i]!.sid}`).toEqual(trees[0]);
  await ensemble().waitForSameZxid(members);
}

describe('forged messages on the election port of a real ensemble', () => {
  it('as the first frame, each is refused as not being a hello, and logged with the caller\'s address', async () => {
    const setup = await connectTo(ensemble().members);
    await setup.create('/forged', 'base');
    for (let i = 0; i < 20; i++) await setup.create(`/forged/n${i}`, `v${i}`);
    await closeClient(setup);
    for (const member of ensemble().members) {
      const mark = member.logMark();
      for (const [name, message] of forged) {
        const f = await forger(member);
        f.send(message);
        expect(await f.closedWithin(5_000), `${name} to server ${member.sid}`).toBe(true);
      }
      await waitFor(`server ${member.sid} to log the refusals`, () => member.logged('peer connection refused', mark).length === forged.length);
      for (const r of member.logged('peer connection refused', mark)) {
        expect(r).toMatchObject({ address: '127.0.0.1', reason: 'hello is not a handshake record' });
      }
    }
    await expectHealthy();
  });

  it('after a hello that looks valid, each closes the link it arrived on with the reason logged, and nobody crashes', async () => {
    const members = ensemble().members;
    for (const member of members) {
      const larger = members.filter((m) => m.sid > member.sid).map((m) => m.sid);
      if (larger.length === 0) continue;
      const mark = member.logMark();
      for (const [name, message] of forged) {
        // As the leader when it is larger: its messages are the ones a follower acts on.
        const leader = (await ensemble().waitForLeader({ timeoutMs: 20_000 })).sid;
        const as = larger.includes(leader) ? leader : larger[0]!;
        const f = await forger(member);
        // Sent with the proof: the real peer's redial cannot replace the link before it arrives.
        expect(await f.hello(as, { then: [message] }), `${name}: hello as ${as} to server ${member.sid}`).toEqual({ welcomed: true, sid: member.sid });
        expect(await f.closedWithin(5_000), `${name} as ${as} to server ${member.sid}`).toBe(true);
      }
      await waitFor(`server ${member.sid} to log the invalid messages`, () => member.logged('invalid peer message; closing connection', mark).length === forged.length);
      const reasons = member.logged('invalid peer message; closing connection', mark).map((r) => String(r.reason));
      expect(reasons).toEqual([
        'requestRejected.origin is missing',
        'sync.origin is missing',
        'proposal.zxid is the number 4294967297, not a bigint zxid',
        'trunc.zxid is missing',
        'snap.snapshotBytes is missing',
      ]);
      for (const r of member.logged('invalid peer message; closing connection', mark)) expect(r).toMatchObject({ address: '127.0.0.1' });
      expect(member.exit).toBeNull();
    }
    await expectHealthy();
  });

  it('a frame longer than the peer frame limit closes the link at once', async () => {
    const member = ensemble().member(1);
    const mark = member.logMark();
    const f = await forger(member);
    expect(await f.hello(2)).toEqual({ welcomed: true, sid: 1 });
    const header = Buffer.alloc(4);
    const limit = peerFrameBytesFor(1048575);
    header.writeUInt32BE(limit + 1, 0);
    f.sendRaw(header);
    expect(await f.closedWithin(5_000)).toBe(true);
    await waitFor('the refusal in the log', () => member.logged('bad peer frame; closing connection', mark)[0]);
    expect(String(member.logged('bad peer frame; closing connection', mark)[0]!.reason)).toBe(`frame length ${limit + 1} is outside 0..${limit} (jute.maxbuffer)`);
    await expectHealthy();
  });

  it('a hello from an id not in the configuration, or from an address that is not the member\'s host, is refused with that address', async () => {
    const member = ensemble().member(1);
    const mark = member.logMark();
    const unknown = await forger(member);
    expect(await unknown.hello(9)).toEqual({ welcomed: false });
    const elsewhere = await forger(member, '127.0.0.2');
    expect(await elsewhere.hello(3)).toEqual({ welcomed: false });
    await waitFor('both refusals in the log', () => member.logged('peer connection refused', mark).length === 2);
    const [first, second] = member.logged('peer connection refused', mark);
    expect(first).toMatchObject({ address: '127.0.0.1', claimedSid: 9, reason: 'server 9 is not in the configuration' });
    expect(second).toMatchObject({ address: '127.0.0.2', claimedSid: 3 });
    expect(String(second!.reason)).toMatch(/^address 127\.0\.0\.2 is not server\.3's host 127\.0\.0\.1/);
    // Refused before the handshake went anywhere: the member's links were never touched.
    expect(member.logged('peer link replaced by a new connection', mark)).toEqual([]);
    await expectHealthy();
  });
});
