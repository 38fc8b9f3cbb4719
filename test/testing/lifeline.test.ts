// No member outlives the process that launched it, however that process dies: a script starts a
// cluster, pauses one member (SIGSTOP: it can notice nothing) and is SIGKILLed.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/testing/member-process.js';
import { waitFor, withDeadline } from '../../src/testing/wait.js';
import { alive } from './clients.js';

const testingEntry = pathToFileURL(path.join(packageRoot, 'dist', 'src', 'testing', 'index.js')).href;
const leftovers: number[] = [];

afterAll(() => {
  for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

async function launcherScript(body: string): Promise<{ pids: number[]; dir: string; kill: () => void; exited: Promise<unknown> }> {
  const scriptDir = await mkdtemp(path.join(os.tmpdir(), 'zkts-lifeline-'));
  const script = path.join(scriptDir, 'launcher.mjs');
  await writeFile(script, `import { TestingCluster } from '${testingEntry}';\n${body}\n`);
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const line = await waitFor('the launcher to report its members', () => /^READY (.*)$/m.exec(out)?.[1], { timeoutMs: 30_000 });
  const { pids, dir } = JSON.parse(line) as { pids: number[]; dir: string };
  leftovers.push(...pids);
  await rm(scriptDir, { recursive: true, force: true });
  return { pids, dir, kill: () => child.kill('SIGKILL'), exited };
}

describe('the lifeline', () => {
  it('a SIGKILLed launcher leaves no member behind, paused ones included', async () => {
    const launcher = await launcherScript(`
      const cluster = await TestingCluster.start({ size: 3 });
      await cluster.pause(2);
      console.log('READY ' + JSON.stringify({ pids: cluster.servers.map((s) => s.pid), dir: cluster.dir }));
      setInterval(() => {}, 1000);
    `);
    expect(launcher.pids).toHaveLength(3);
    expect(launcher.pids.every(alive)).toBe(true);
    launcher.kill();
    await withDeadline(launcher.exited, 5_000, 'the launcher to die');
    await waitFor('every member to be gone', () => launcher.pids.every((pid) => !alive(pid)), { timeoutMs: 10_000 });
    await rm(launcher.dir, { recursive: true, force: true });
  });

  it('a launcher that ends without closing its cluster leaves no member behind either', async () => {
    const launcher = await launcherScript(`
      const cluster = await TestingCluster.start({ size: 1 });
      console.log('READY ' + JSON.stringify({ pids: cluster.servers.map((s) => s.pid), dir: cluster.dir }));
    `);
    await withDeadline(launcher.exited, 10_000, 'the launcher to end on its own (the cluster must not keep it alive)');
    await waitFor('the member to be gone', () => launcher.pids.every((pid) => !alive(pid)), { timeoutMs: 10_000 });
    await rm(launcher.dir, { recursive: true, force: true });
  });
});
