// The README's "Client TLS" examples, run as written in a temporary directory: its openssl
// commands make the certificates, its zoo.cfg starts a real `zkts server`, and its shell,
// 4lw, TypeScript, kazoo and Java examples each reach the node only alice may read. Only the
// port changes (the README's 2281 becomes a free one).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemberProcess } from '../../src/testing/member-process.js';
import { describeProcess, runProcess, systemPython } from '../conformance/harness.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const zkts = `${process.execPath} ${path.join(repoRoot, 'bin', 'zkts.js')}`;

/** The code blocks of one language after the README's "### Client TLS", in order. */
function blocks(language: string): string[] {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Client TLS'));
  const end = section.indexOf('\n## ');
  return [...section.slice(0, end < 0 ? undefined : end).matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

let dir: string;
let port: number;
let server: MemberProcess | undefined;
const withPort = (text: string) => text.replaceAll('2281', String(port));
const bash = (script: string) => runProcess('bash', ['-eo', 'pipefail', '-c', withPort(script).replaceAll(/^zkts /gm, `${zkts} `)], { cwd: dir, timeoutMs: 60_000 });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zkts-readme-tls-'));
  port = await freePort();
  const certificates = await bash(blocks('sh')[0]!);
  expect(certificates.code, describeProcess('the openssl block', certificates)).toBe(0);
  writeFileSync(path.join(dir, 'zoo.cfg'), withPort(blocks('properties')[0]!));
  // zoo.cfg's relative paths are taken from its own folder, as the README says.
  server = new MemberProcess({ name: 'the README server', configPath: path.join(dir, 'zoo.cfg'), logFile: null, logLevel: 'warn', seed: 1 });
  await server.start();
  const flags = ['--tls-ca', 'ca.crt', '--tls-cert', 'alice.crt', '--tls-key', 'alice.key'];
  await waitFor('the README server to answer ruok over TLS', async () => {
    const r = await runProcess(process.execPath, [path.join(repoRoot, 'bin', 'zkts.js'), '4lw', 'ruok', `127.0.0.1:${port}`, ...flags], { cwd: dir });
    return r.stdout === 'imok';
  }, { timeoutMs: 20_000, intervalMs: 100 });
});

afterAll(async () => {
  await server?.kill();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("the README's Client TLS examples, run as written", () => {
  it('the shell and 4lw lines: whoami shows the x509 id, ruok answers', async () => {
    const result = await bash(blocks('sh')[1]!);
    const why = describeProcess('the shell block', result);
    expect(result.code, why).toBe(0);
    expect(result.stdout, why).toContain('Auth scheme: x509\nUser: CN=alice,OU=eng,O=Example,C=US\n');
    expect(result.stdout, why).toMatch(/imok$/);
  });

  it('the TypeScript example creates the node only alice may read, and reads it', async () => {
    // Inside the package's own tree, so that `import 'zkts'` resolves to this package.
    const file = path.join(repoRoot, 'dist', `readme-tls-${process.pid}.mjs`);
    writeFileSync(file, withPort(blocks('ts')[0]!));
    try {
      const result = await runProcess(process.execPath, [file], { cwd: dir, timeoutMs: 30_000 });
      expect(result.stdout, describeProcess('the TypeScript example', result)).toBe('for alice\n');
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('the kazoo and Java examples read it as alice', async () => {
    const kazoo = await runProcess(systemPython, ['-c', withPort(blocks('python')[0]!)], { cwd: dir, timeoutMs: 60_000 });
    expect(kazoo.stdout, describeProcess('the kazoo example', kazoo)).toBe('for alice\n');
    const java = await bash(blocks('sh')[2]!);
    expect(java.stdout, describeProcess('the Java example', java)).toContain('for alice');
  });
});
