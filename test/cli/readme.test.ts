import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, repoRoot } from '../ensemble/cluster-harness.js';
import { freePort, waitFor } from '../support/net.js';
import { runNode, runZkts } from '../support/cli.js';
import { withDeadline } from '../support/wait.js';

// The README's examples run as written: its TypeScript example against a fresh three-member
// ensemble, and the commands it shows.

/** The first ```ts block after `heading` in the README. */
async function readmeBlock(heading: string): Promise<string> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  expect(at, `README mentions '${heading}'`).toBeGreaterThanOrEqual(0);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(block, `a ts block after '${heading}'`).not.toBeNull();
  return block![1]!;
}

describe('the README, run as written', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start({ participants: 3 });
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('its TypeScript example works against a fresh ensemble, creating its own chroot', async () => {
    let code = await readmeBlock('From TypeScript');
    expect(code).toContain("from 'zkts'");
    // Only the ports change: the README's cluster listens on 2181-2183, this one on free ports.
    for (const [i, m] of cluster.members.entries()) code = code.replaceAll(`127.0.0.1:${2181 + i}`, `127.0.0.1:${m.clientPort}`);
    // Inside the package's own directory tree, so that `import 'zkts'` resolves to this package.
    const file = path.join(repoRoot, 'dist', `readme-example-${process.pid}.mjs`);
    await writeFile(file, code);
    try {
      const result = await runNode([file], { timeoutMs: 30_000 });
      expect(result.err).toBe('');
      expect(result.code).toBe(0);
      expect(result.out).toMatch(/^SYNC_CONNECTED /m);
      expect(result.out).toMatch(/^v1 0$/m);
    } finally {
      await rm(file, { force: true });
    }
    const check = await runZkts(['shell', cluster.connectString(), '--', 'get', '/app/config']);
    expect(check.out).toBe('v1\n');
  });

  it('zkts 4lw sends a four-letter word without nc', async () => {
    const m = cluster.members[0]!;
    expect(await runZkts(['4lw', 'ruok', `127.0.0.1:${m.clientPort}`])).toMatchObject({ code: 0, out: 'imok' });
    const srvr = await runZkts(['4lw', 'srvr', `127.0.0.1:${m.clientPort}`]);
    expect(srvr.out).toMatch(/^Mode: (leader|follower)$/m);
    expect(await runZkts(['4lw', 'ruok', 'no-port-here:x'])).toMatchObject({ code: 2 });
  });
});

describe('zkts server --log-level', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-loglevel-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses an unknown level, naming the flag or the variable', async () => {
    const cfg = path.join(dir, 'bad.cfg');
    await writeFile(cfg, `dataDir=${dir}/bad\nclientPort=0\n`);
    const flag = await runZkts(['server', cfg, '--log-level', 'loud']);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain("--log-level must be one of fatal, error, warn, info, debug, trace, silent, not 'loud'");
    const env = await runZkts(['server', cfg], { env: { ZKTS_LOG_LEVEL: 'chatty' } });
    expect(env.code).toBe(2);
    expect(env.err).toContain("ZKTS_LOG_LEVEL must be one of");
  });

  it('sets the level: debug shows what info hides, and the flag wins over ZKTS_LOG_LEVEL', async () => {
    const port = await freePort();
    const cfg = path.join(dir, 'zoo.cfg');
    await writeFile(cfg, `dataDir=${dir}/data\nclientPort=${port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=ruok\n`);
    const levels: number[] = [];
    for (const level of ['debug', 'warn']) {
      let server: ChildProcess | undefined;
      const run = runZkts(['server', cfg, '--log-level', level], { env: { ZKTS_LOG_LEVEL: 'error' }, onStart: (child) => (server = child) });
      try {
        await waitFor(`the server with --log-level ${level} to answer ruok`, () => runZkts(['4lw', 'ruok', `127.0.0.1:${port}`]).then((r) => r.out === 'imok'));
      } finally {
        server!.kill('SIGTERM');
      }
      const { out } = await withDeadline(run, 10_000, 'the server to exit');
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
      levels.push(Math.min(...lines.map((l) => l.level), 100));
      if (level === 'warn') expect(lines.every((l) => l.level >= 40), out).toBe(true);
      if (level === 'debug') expect(lines.some((l) => l.msg === 'serving clients'), out).toBe(true);
    }
    expect(levels[0]).toBeLessThanOrEqual(20);
  });
});
