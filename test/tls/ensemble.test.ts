// A three-member ensemble of real `zkts server` processes that serve clients on
// secureClientPort only (no clientPort, no client port on the server lines): each member
// takes TLS clients, a write through one is read through the others, the x509 ACL holds on
// every member, and a client whose member dies resumes its session on another over TLS.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ZooKeeperClient } from '../../src/client/index.js';
import { ErrorCode, Perms } from '../../src/protocol/constants.js';
import { MemberProcess } from '../../src/testing/member-process.js';
import { aliceDn, makeTestCertificates, type KeyStore, type TestCertificates } from '../support/certs.js';
import { freePort } from '../support/net.js';
import { scaled, waitFor } from '../support/wait.js';

const size = 3;

let certs: TestCertificates;
let base: string;
const members: { process: MemberProcess; securePort: number }[] = [];
const clients: ZooKeeperClient[] = [];

beforeAll(async () => {
  certs = makeTestCertificates();
  base = mkdtempSync(path.join(os.tmpdir(), 'zkts-tls-ensemble-'));
  const ports = await Promise.all(Array.from({ length: size * 3 }, () => freePort()));
  const serverLines = Array.from({ length: size }, (_, i) => `server.${i + 1}=127.0.0.1:${ports[i * 3]}:${ports[i * 3 + 1]}`);
  for (let sid = 1; sid <= size; sid++) {
    const dir = path.join(base, `m${sid}`);
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    writeFileSync(path.join(dir, 'data', 'myid'), `${sid}\n`);
    const securePort = ports[(sid - 1) * 3 + 2]!;
    writeFileSync(path.join(dir, 'zoo.cfg'), [
      'tickTime=100', 'initLimit=20', 'syncLimit=20', `dataDir=${path.join(dir, 'data')}`,
      `secureClientPort=${securePort}`, 'secureClientPortAddress=127.0.0.1',
      `ssl.keyStore.location=${certs.member.path}`, `ssl.trustStore.location=${certs.caPath}`,
      ...serverLines,
    ].join('\n') + '\n');
    const member = new MemberProcess({ name: `member ${sid}`, configPath: path.join(dir, 'zoo.cfg'), logFile: null, logLevel: 'warn', seed: sid });
    members.push({ process: member, securePort });
  }
  // Through the one launcher: started once each listens, killed with this test process.
  await Promise.all(members.map((m) => m.process.start()));
});

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(members.map((m) => m.process.kill()));
  certs?.remove();
  if (base !== undefined) rmSync(base, { recursive: true, force: true });
});

function client(hosts: number | number[], store: KeyStore): ZooKeeperClient {
  const c = createClient([hosts].flat().map((p) => `127.0.0.1:${p}`).join(','), { tls: { ca: certs.caPem, cert: store.cert, key: store.key }, connectTimeout: scaled(2_000), sessionTimeout: 10_000 });
  clients.push(c);
  return c;
}

/** A session with the member, retried until the ensemble has a leader and the member serves. */
async function session(port: number, store: KeyStore): Promise<ZooKeeperClient> {
  const why = () => members.map((m, i) => `--- member ${i + 1} ---\n${m.process.log.tail(30)}`).join('\n');
  return waitFor(`a TLS session on port ${port}`, async () => {
    for (const m of members) if (m.process.exit !== null) throw new Error(`a member exited with ${m.process.exit.code}\n${why()}`);
    const c = client(port, store);
    return c.connect().then(() => c, () => null);
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

describe('an ensemble serving clients on secureClientPort only', () => {
  it('takes TLS clients on every member; a write through one is read through the others under its x509 ACL', async () => {
    const alices = [];
    for (const m of members) alices.push(await session(m.securePort, certs.alice));
    await alices[0]!.create('/ensemble-tls', 'replicated', { acl: [{ perms: Perms.ALL, id: { scheme: 'x509', id: aliceDn } }] });
    for (const a of alices.slice(1)) {
      await a.sync('/ensemble-tls');
      expect((await a.getData('/ensemble-tls')).data?.toString()).toBe('replicated');
    }
    const bob = await session(members[2]!.securePort, certs.bob);
    await expect(bob.getData('/ensemble-tls')).rejects.toMatchObject({ code: ErrorCode.NOAUTH });
  });

  it('a client whose member is killed resumes its session on another member, over TLS', async () => {
    const alice = client(members.map((m) => m.securePort), certs.alice);
    await alice.connect();
    const session = alice.sessionIdHex;
    await alice.create('/resume-tls', 'before', { mode: 'EPHEMERAL' });
    const victim = members.find((m) => alice.currentServer === `127.0.0.1:${m.securePort}`)!;
    await victim.process.kill();
    await waitFor('the client to reconnect to another member', () => alice.state === 'SYNC_CONNECTED' && alice.currentServer !== `127.0.0.1:${victim.securePort}`, { timeoutMs: 20_000 });
    expect(alice.sessionIdHex).toBe(session);
    expect((await alice.getData('/resume-tls')).data?.toString()).toBe('before');
  });
});
