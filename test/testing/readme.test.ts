// The README's "Failover testing" example runs as written: compiled as TypeScript would compile
// it (its `await using` included) and run with Node inside the package, so that `zkts` and
// `zkts/testing` resolve as they do for an application that installed zkts.
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/testing/member-process.js';
import { runNode } from '../support/cli.js';

async function readmeBlock(heading: string): Promise<string> {
  const readme = await readFile(path.join(packageRoot, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  expect(at, `README has '${heading}'`).toBeGreaterThanOrEqual(0);
  return /```ts\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
}

describe('the README on failover testing', () => {
  it('its example runs against a fresh cluster and exits cleanly', async () => {
    const source = await readmeBlock('## Failover testing');
    expect(source).toContain("from 'zkts/testing'");
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    const file = path.join(packageRoot, 'dist', `readme-failover-${process.pid}.mjs`);
    await writeFile(file, `${outputText}\nconsole.log('example done');\n`);
    try {
      const { code, out, err } = await runNode([file], { timeoutMs: 60_000 });
      expect(err).toBe('');
      expect(out).toMatch(/^server \d was killed; server \d leads$/m);
      expect(out).toContain('example done');
      expect(code).toBe(0);
    } finally {
      await rm(file, { force: true });
    }
  });
});
