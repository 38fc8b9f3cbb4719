// The README's "Failover testing" examples (plain and TLS) run as written: compiled as TypeScript would compile
// it (its `await using` included) and run with Node inside the package, so that `zkts` and
// `zkts/testing` resolve as they do for an application that installed zkts.
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/testing/member-process.js';
import { makeTestCertificates } from '../support/certs.js';
import { runNode } from '../support/cli.js';

async function readmeBlock(heading: string): Promise<string> {
  const readme = await readFile(path.join(packageRoot, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  expect(at, `README has '${heading}'`).toBeGreaterThanOrEqual(0);
  return /```ts\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
}

/** Compiles the block as TypeScript would and runs it with Node inside the package (in `cwd`, default the package). */
async function runBlock(source: string, cwd?: string): Promise<{ code: number | null; out: string; err: string }> {
  expect(source).toContain("from 'zkts/testing'");
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const file = path.join(packageRoot, 'dist', `readme-example-${process.pid}.mjs`);
  await writeFile(file, `${outputText}\nconsole.log('example done');\n`);
  try {
    return await runNode([file], { timeoutMs: 60_000, cwd });
  } finally {
    await rm(file, { force: true });
  }
}

describe('the README on failover testing', () => {
  it('its example runs against a fresh cluster and exits cleanly', async () => {
    const { code, out, err } = await runBlock(await readmeBlock('## Failover testing'));
    expect(err).toBe('');
    expect(out).toMatch(/^server \d was killed; server \d leads$/m);
    expect(out).toContain('example done');
    expect(code).toBe(0);
  });

  it('its TLS example runs with certificates from openssl in its directory', async () => {
    const certs = makeTestCertificates();
    try {
      const { code, out, err } = await runBlock(await readmeBlock('**TLS clients.**'), certs.dir);
      expect(err).toBe('');
      expect(out).toMatch(/^server \d went silent; the session went on over TLS with \/lock kept$/m);
      expect(out).toContain('example done');
      expect(code).toBe(0);
    } finally {
      certs.remove();
    }
  });
});
