// The README's zkts/testcontainers example, run as written: it imports the package by name,
// starts three containers, pauses the leader and checks that its session kept its lock.
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scaled } from '../../src/testing/wait.js';
import { runNode } from '../support/cli.js';
import { repoRoot, requireDocker } from './docker.js';

/** Three containers started, an election, a resume, three containers removed. */
const exampleTimeoutMs = 150_000;

async function readmeExample(): Promise<string> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const at = readme.indexOf('**From tests: `zkts/testcontainers`.**');
  expect(at, 'the README has the zkts/testcontainers paragraph').toBeGreaterThanOrEqual(0);
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(block, 'a js block after it').not.toBeNull();
  return block![1]!;
}

describe('the README, run as written', () => {
  it('its zkts/testcontainers example pauses the leader of three containers, and the session keeps its ephemeral node', async (context) => {
    await requireDocker(context);
    const code = await readmeExample();
    expect(code).toContain("from 'zkts/testcontainers'");
    // Inside the package's own tree, so that `import 'zkts/testcontainers'` resolves to this package.
    const file = path.join(repoRoot, 'dist', `readme-testcontainers-${process.pid}.mjs`);
    await writeFile(file, code);
    try {
      const { code, out, err } = await runNode([file], { timeoutMs: exampleTimeoutMs });
      expect(err).toBe('');
      expect(code).toBe(0);
      const paused = /^leader (\d) paused, (\d) leads now$/m.exec(out);
      expect(paused, out).not.toBeNull();
      expect(paused![2]).not.toBe(paused![1]);
      expect(out).toContain('lock still held: true');
    } finally {
      await rm(file, { force: true });
    }
  }, scaled(exampleTimeoutMs + 10_000));
});
