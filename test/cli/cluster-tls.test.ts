// `zkts cluster up --tls-keystore`: every member serves TLS clients behind its fault proxy, up
// prints where, status --json says so per member, and a TLS client with a certificate the
// trust store's CA signed gets through. Bad TLS flags are refused before anything starts.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaled } from '../../src/testing/wait.js';
import { makeTestCertificates, type TestCertificates } from '../support/certs.js';
import { runZkts } from '../support/cli.js';
import { closeAll, connect } from '../testing/clients.js';
import { Up } from './cluster-support.js';

let dir: string;
let certs: TestCertificates;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-cluster-tls-'));
  certs = makeTestCertificates();
});
afterAll(async () => {
  await closeAll();
  certs?.remove();
  await rm(dir, { recursive: true, force: true });
});

describe('zkts cluster up with TLS', () => {
  it('prints the TLS connection string through the proxies, lists it in status --json, and a TLS client creates a node through it', async () => {
    const up = await Up.start(path.join(dir, 'cluster'), ['--tls-keystore', certs.member.path, '--tls-truststore', certs.caPath]);
    try {
      const secure = /^TLS connection string: (\S+)$/m.exec(up.out)?.[1];
      expect(secure, up.out).toMatch(/^127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){2}$/);
      const view = await up.status();
      expect(view.secureConnectString).toBe(secure);
      expect(view.members.map((m) => m.secureConnectString).join(',')).toBe(secure);
      const plain = [...view.connectString.split(','), ...view.directConnectString.split(',')];
      for (const address of secure!.split(',')) expect(plain).not.toContain(address);
      const client = await connect(secure!, { tls: { ca: certs.caPem, cert: certs.alice.cert, key: certs.alice.key } });
      await client.zk.create('/over-tls', 'x');
      expect((await client.zk.getData('/over-tls')).data?.toString()).toBe('x');
      await closeAll();
      const down = await up.run('down');
      expect(down.code, down.err).toBe(0);
      expect(await up.exited).toBe(0);
    } finally {
      await up.close();
    }
  }, scaled(90_000));

  it('bad TLS flags exit 2 naming the flag, before anything starts', async () => {
    const dataDir = path.join(dir, 'refused');
    const cases: [string[], RegExp][] = [
      [['--tls-keystore', certs.member.path, '--tls-client-auth', 'always'], /--tls-client-auth must be one of none, want, need, not 'always'/],
      [['--tls-truststore', certs.caPath], /--tls-truststore goes with --tls-keystore/],
      [['--tls-keystore', path.join(dir, 'missing.pem')], /--tls-keystore .*missing\.pem cannot be read \(ENOENT\)/],
      [['--tls-keystore', certs.member.path, '--tls-client-auth', 'need'], /--tls-client-auth need needs --tls-truststore/],
    ];
    for (const [args, message] of cases) {
      const result = await runZkts(['cluster', 'up', '--data-dir', dataDir, ...args]);
      expect(result.code, result.err).toBe(2);
      expect(result.err).toMatch(message);
    }
  });
});
