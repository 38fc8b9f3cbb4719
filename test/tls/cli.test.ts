// The command line over TLS: `zkts shell --tls-ca F --tls-cert F --tls-key F` and
// `zkts 4lw` with the same flags, against a secure client port with ssl.clientAuth=need.
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runShell } from '../../src/client/shell/index.js';
import type { ServerNode } from '../../src/server/node.js';
import { runProcess } from '../conformance/harness.js';
import { startServer } from '../server/harness.js';
import { aliceDn, makeTestCertificates, type TestCertificates } from '../support/certs.js';
import { requireBuild } from '../support/server-process.js';

const zkts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'zkts.js');

let certs: TestCertificates;
let server: ServerNode;
let hosts: string;

beforeAll(async () => {
  requireBuild();
  certs = makeTestCertificates();
  server = await startServer({
    secureClientPort: 0,
    secureClientPortAddress: '127.0.0.1',
    'ssl.keyStore.location': certs.member.path,
    'ssl.trustStore.location': certs.caPath,
  });
  hosts = `127.0.0.1:${server.securePort}`;
});
afterAll(async () => {
  await server?.stop();
  certs?.remove();
});

async function shell(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runShell(args, { stdin: new PassThrough(), stdout, stderr });
  return { code, out, err };
}

const aliceFlags = (): string[] => ['--tls-ca', certs.caPath, '--tls-cert', path.join(certs.dir, 'alice.crt'), '--tls-key', path.join(certs.dir, 'alice.key')];

describe('zkts shell over TLS', () => {
  it('runs commands on the secure port, authenticated as the certificate subject', async () => {
    expect(await shell([...aliceFlags(), hosts, '--', 'create', '/shell-tls', 'hi'])).toEqual({ code: 0, out: 'Created /shell-tls\n', err: '' });
    expect(await shell([...aliceFlags(), hosts, '--', 'get', '/shell-tls'])).toEqual({ code: 0, out: 'hi\n', err: '' });
    expect((await shell([...aliceFlags(), hosts, '--', 'whoami'])).out).toContain(`Auth scheme: x509\nUser: ${aliceDn}\n`);
  });

  it('fails without a client certificate under ssl.clientAuth=need', async () => {
    const result = await shell(['--timeout', '1500', '--tls-ca', certs.caPath, hosts, '--', 'ls', '/']);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
  });

  it('names the flag and the file it cannot read, and wants --tls-cert with --tls-key', async () => {
    const missing = path.join(certs.dir, 'absent.crt');
    const unreadable = await shell(['--tls-ca', missing, hosts, '--', 'ls', '/']);
    expect(unreadable.code).toBe(2);
    expect(unreadable.err).toContain(`--tls-ca ${missing}: ENOENT`);
    const half = await shell(['--tls-cert', path.join(certs.dir, 'alice.crt'), hosts, '--', 'ls', '/']);
    expect(half).toMatchObject({ code: 2, err: '--tls-cert and --tls-key go together\n' });
  });
});

describe('zkts 4lw over TLS', () => {
  it('asks the secure port', async () => {
    const result = await runProcess(process.execPath, [zkts, '4lw', 'ruok', hosts, '--expect', 'imok', ...aliceFlags()], { timeoutMs: 20_000 });
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ code: 0, stdout: 'imok' });
  });
});
