// `zkts server` with a secure client port it cannot use exits non-zero at once, naming the key,
// the value and the cause, and leaves nothing bound (a member never runs half-started).
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../support/certs.js';
import { freePort } from '../support/net.js';
import { holdPort, invalidConfigExit, isFree, requireBuild, runServerProcess, unusableResourceExit } from '../support/server-process.js';

let certs: TestCertificates;
let base: string;
const held: net.Server[] = [];

beforeAll(() => {
  requireBuild();
  certs = makeTestCertificates();
});
afterAll(() => certs.remove());
afterEach(async () => {
  for (const s of held.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
  rmSync(base, { recursive: true, force: true });
});

/** A standalone config in a fresh directory; `ssl` overrides the secure-port keys. */
function config(clientPort: number, securePort: number, ssl: Record<string, string> = {}): string {
  base = mkdtempSync(path.join(os.tmpdir(), 'zkts-tls-startup-'));
  const lines = {
    tickTime: '2000', dataDir: path.join(base, 'data'), clientPort: String(clientPort), clientPortAddress: '127.0.0.1',
    secureClientPort: String(securePort), secureClientPortAddress: '127.0.0.1',
    'ssl.keyStore.location': certs.member.path, 'ssl.trustStore.location': certs.caPath, ...ssl,
  };
  const file = path.join(base, 'zoo.cfg');
  writeFileSync(file, Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  return file;
}

describe('zkts server start-up with secureClientPort', () => {
  it('refuses a secure port in use, naming secureClientPort, the port and EADDRINUSE, and frees the plain port', async () => {
    const [plain, secure] = [await freePort(), await freePort()];
    held.push(await holdPort(secure));
    const { code, stderr } = await runServerProcess(config(plain, secure));
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toContain(`config key 'secureClientPort' = ${secure}`);
    expect(stderr).toContain('EADDRINUSE');
    expect(await isFree(plain)).toBe(true);
  });

  it('an ensemble member whose secure port is taken exits instead of running half-started, leaving its election port free', async () => {
    const [quorum1, election1, quorum2, election2, secure] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    held.push(await holdPort(secure!));
    const file = config(await freePort(), secure!, { [`server.1`]: `127.0.0.1:${quorum1}:${election1}`, [`server.2`]: `127.0.0.1:${quorum2}:${election2}` });
    mkdirSync(path.join(base, 'data'));
    writeFileSync(path.join(base, 'data', 'myid'), '1\n');
    const { code, stderr } = await runServerProcess(file);
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toContain(`config key 'secureClientPort' = ${secure}`);
    expect(stderr).toContain('EADDRINUSE');
    expect(await isFree(election1!)).toBe(true);
  });

  const refusals: [string, () => Record<string, string>, RegExp][] = [
    ['a key store that does not exist', () => ({ 'ssl.keyStore.location': path.join(certs.dir, 'absent.pem') }), /config key 'ssl\.keyStore\.location': cannot read '.*absent\.pem': ENOENT/],
    ['a key store whose certificate is for another key', () => {
      const mismatch = path.join(certs.dir, 'mismatch.pem');
      writeFileSync(mismatch, certs.rogue.key + certs.member.cert);
      return { 'ssl.keyStore.location': mismatch };
    }, /config key 'ssl\.keyStore\.location': the first certificate in '.*mismatch\.pem' is not for its private key/],
    ['a trust store that does not exist', () => ({ 'ssl.trustStore.location': path.join(certs.dir, 'absent-ca.pem') }), /config key 'ssl\.trustStore\.location': cannot read '.*absent-ca\.pem': ENOENT/],
    ['a secure port without a key store', () => ({ 'ssl.keyStore.location': '' }), /config key 'ssl\.keyStore\.location': is required when secureClientPort is set/],
    ['an unknown ssl.clientAuth', () => ({ 'ssl.clientAuth': 'sometimes' }), /config key 'ssl\.clientAuth': 'sometimes' is not one of none, want, need/],
  ];
  it.each(refusals)('refuses %s, exiting with the key, the value and the cause', async (_name, ssl, message) => {
    const plain = await freePort();
    const { code, stderr } = await runServerProcess(config(plain, await freePort(), ssl()));
    expect(code).toBe(invalidConfigExit);
    expect(stderr).toMatch(message);
    expect(await isFree(plain)).toBe(true);
  });

  it('refuses a key store it may not read, naming the key, the file and EACCES', async () => {
    const file = config(await freePort(), await freePort());
    const keys = path.join(base, 'keys');
    mkdirSync(keys);
    const unreadable = path.join(keys, 'member.pem');
    copyFileSync(certs.member.path, unreadable);
    chmodSync(unreadable, 0o000);
    writeFileSync(file, `ssl.keyStore.location=${unreadable}\n`, { flag: 'a' });
    const { code, stderr } = await runServerProcess(file, true);
    expect(code).toBe(invalidConfigExit);
    expect(stderr).toMatch(new RegExp(`config key 'ssl\\.keyStore\\.location': cannot read '${unreadable}': EACCES`));
  });
});
