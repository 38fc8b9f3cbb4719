// Authenticated peers with real processes: an ensemble over mutual TLS (certificates made by
// openssl for this test) and one with a shared secret. Only members with the credentials may
// speak on the election port; anyone else is refused and logged with their address, and the
// members' own links stay up.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaled } from '../../src/testing/wait.js';
import { makeTestCertificates, type TestCertificates } from '../support/certs.js';
import { PeerForger } from '../support/peer-forger.js';
import { closeClient, closeClients, connectTo, eventually, treeOn } from './clients.js';
import { Cluster, waitFor, type Member } from './cluster-harness.js';
import { dumpClusterLogsOnFailure } from './failure-logs.js';

let cluster: Cluster | undefined;
const forgers: PeerForger[] = [];
dumpClusterLogsOnFailure(() => cluster);

afterAll(async () => {
  for (const f of forgers) f.destroy();
  await closeClients();
  await cluster?.destroy();
});

async function forge(options: Parameters<typeof PeerForger.connect>[0]): Promise<PeerForger> {
  const f = await PeerForger.connect(options);
  forgers.push(f);
  return f;
}

/** A write through every member commits, and all of them end on one zxid with one tree. */
async function expectReplicating(members: readonly Member[], root: string): Promise<void> {
  for (const m of members) {
    const client = await connectTo([m]);
    await eventually(() => client.create(`${root}/via-${m.sid}-${Date.now()}`, `through ${m.sid}`), `a write through server ${m.sid}`);
    await closeClient(client);
  }
  await cluster!.waitForSameZxid(members);
  const trees = await Promise.all(members.map((m) => treeOn(m, root)));
  for (const [i, tree] of trees.entries()) expect(tree, `tree on server ${members[i]!.sid}`).toEqual(trees[0]);
}

describe('mutual TLS on the election port (sslQuorum)', () => {
  let certs: TestCertificates;
  beforeAll(async () => {
    certs = makeTestCertificates();
    cluster = await Cluster.start({
      participants: 3,
      extraConfig: [
        'sslQuorum=true',
        `ssl.quorum.keyStore.location=${certs.member.path}`,
        'ssl.quorum.keyStore.type=PEM',
        `ssl.quorum.trustStore.location=${certs.caPath}`,
        'ssl.quorum.trustStore.type=PEM',
        'ssl.quorum.hostnameVerification=true',
      ],
    });
  }, scaled(30_000));
  afterAll(async () => {
    await closeClients();
    await cluster?.destroy();
    cluster = undefined;
    certs?.remove();
  });

  it('forms an ensemble that serves and replicates, and its election port speaks only TLS', async () => {
    const c = await connectTo(cluster!.members);
    await c.create('/tls', 'over mutual TLS');
    await closeClient(c);
    await expectReplicating(cluster!.members, '/tls');
    const member = cluster!.member(1);
    const mark = member.logMark();
    const plain = await forge({ port: member.electionPort });
    expect(await plain.hello(2)).toEqual({ welcomed: false });
    await waitFor('the plain connection refused', () => member.logged('peer TLS handshake refused', mark)[0]);
  });

  it('refuses a peer whose certificate another CA signed, or that has none, with its address; the ensemble keeps serving', async () => {
    const member = cluster!.member(1);
    const mark = member.logMark();
    const rogue = await forge({ port: member.electionPort, tls: { ca: certs.caPem, key: certs.rogue.key, cert: certs.rogue.cert } });
    expect(await rogue.hello(2)).toEqual({ welcomed: false });
    const anonymous = await forge({ port: member.electionPort, tls: { ca: certs.caPem } });
    expect(await anonymous.hello(2)).toEqual({ welcomed: false });
    await waitFor('both refusals logged', () => member.logged('peer TLS handshake refused', mark).length === 2);
    const reasons = member.logged('peer TLS handshake refused', mark).map((r) => `${r.address} ${String(r.reason)}`);
    expect(reasons).toEqual(expect.arrayContaining([
      expect.stringMatching(/^127\.0\.0\.1 UNABLE_TO_VERIFY_LEAF_SIGNATURE/),
      expect.stringMatching(/^127\.0\.0\.1 .*did not return a certificate/),
    ]));
    expect(member.logged('peer link replaced by a new connection', mark)).toEqual([]);
    await expectReplicating(cluster!.members, '/tls');
  });

  it('keeps out a member restarted with a certificate from another CA, and takes it back with the right one', async () => {
    const member = cluster!.member(2);
    const others = cluster!.members.filter((m) => m !== member);
    const marks = new Map(others.map((m) => [m, m.logMark()]));
    const original = readFileSync(member.configPath, 'utf8');
    await member.stop();
    writeFileSync(member.configPath, original.replace(`ssl.quorum.keyStore.location=${certs.member.path}`, `ssl.quorum.keyStore.location=${certs.rogue.path}`));
    member.spawn();
    // Server 1 takes server 2's calls and refuses its certificate; server 3 calls server 2 and refuses the certificate it is shown.
    await waitFor('server 1 to refuse server 2', () => cluster!.member(1).logged('peer TLS handshake refused', marks.get(cluster!.member(1))).length > 0, { timeoutMs: 20_000 });
    await waitFor('server 3 to refuse server 2', () => cluster!.member(3).logged('cannot connect to peer', marks.get(cluster!.member(3))).find((r) => r.peer === 2), { timeoutMs: 20_000 });
    expect((await member.status())?.mode ?? 'not serving').not.toMatch(/leader|follower/);
    await expectReplicating(others, '/tls');

    await member.stop();
    writeFileSync(member.configPath, original);
    await cluster!.restart(member);
    await expectReplicating(cluster!.members, '/tls');
  });
});

describe('a shared secret on the election port (quorum.auth.secretFile)', () => {
  let dir: string;
  const secret = Buffer.from('a secret every member of this ensemble holds');
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'zkts-secret-'));
    const secretFile = path.join(dir, 'quorum.secret');
    writeFileSync(secretFile, `${secret.toString()}\n`);
    cluster = await Cluster.start({ participants: 3, extraConfig: [`quorum.auth.secretFile=${secretFile}`] });
  }, scaled(30_000));
  afterAll(async () => {
    await closeClients();
    await cluster?.destroy();
    cluster = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('forms an ensemble that serves and replicates', async () => {
    const c = await connectTo(cluster!.members);
    await c.create('/secret', 'members only');
    await closeClient(c);
    await expectReplicating(cluster!.members, '/secret');
  });

  it('refuses a hello that proves no secret or a wrong one, logged with its address; the members\' links stay up and writes keep committing', async () => {
    const members = cluster!.members;
    const leader = await cluster!.waitForLeader();
    const marks = new Map(members.map((m) => [m, m.logMark()]));
    for (const member of members) {
      const larger = members.filter((m) => m.sid > member.sid);
      // As the leader when it can be: its messages are the ones a follower acts on.
      const as = (larger.includes(leader) ? leader : larger[0])?.sid;
      if (as === undefined) continue;
      for (const forgedSecret of [undefined, Buffer.from('not the secret of this ensemble')]) {
        const f = await forge({ port: member.electionPort });
        expect(await f.hello(as, { secret: forgedSecret, then: [{ type: 'commit', zxid: 0xffffffffn }] })).toEqual({ welcomed: true, sid: member.sid });
        expect(await f.closedWithin(5_000)).toBe(true);
      }
      await waitFor(`server ${member.sid} to log both refusals`, () => member.logged('peer connection refused', marks.get(member)).length === 2);
      for (const r of member.logged('peer connection refused', marks.get(member))) {
        expect(r).toMatchObject({ address: '127.0.0.1', claimedSid: as, reason: 'it did not prove it holds the shared secret' });
      }
    }
    await expectReplicating(members, '/secret');
    // No member lost or replaced a link.
    for (const m of members) {
      const since = marks.get(m);
      expect(m.logged('peer link replaced by a new connection', since), `server ${m.sid}`).toEqual([]);
      expect(m.logged('peer disconnected', since), `server ${m.sid}`).toEqual([]);
    }
  });
});
