// conf/ensemble/zoo{1,2,3}.cfg are the example of an ensemble's zoo.cfg files that a user runs
// by hand with `zkts server`: they must describe one ensemble, with the settings `zkts cluster
// up` gives its members, and they must run (here on ports from the OS, as the tests must).
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/config.js';
import { MemberProcess } from '../../src/testing/member-process.js';
import { waitFor } from '../../src/testing/wait.js';
import { fourLetterWord, freePort } from '../support/net.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const files = [1, 2, 3].map((id) => path.join(repoRoot, 'conf', 'ensemble', `zoo${id}.cfg`));
const running: MemberProcess[] = [];
let dir: string | undefined;

afterAll(async () => {
  await Promise.all(running.map((p) => p.kill()));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('conf/ensemble', () => {
  it('describes one three-member ensemble: the same server lines, each member its own id, client port and dataDir, zkts cluster up\'s settings', () => {
    const configs = files.map((file) => loadConfigFile(file));
    for (const { warnings } of configs) expect(warnings).toEqual([]);
    const [first] = configs.map((c) => c.config);
    for (const [i, { config }] of configs.entries()) {
      expect(config.servers).toEqual(first!.servers);
      expect(config.servers.map((s) => s.sid)).toEqual([1, 2, 3]);
      expect(config.clientPort).toBe(2181 + i);
      expect(config.servers[i]!.clientPort).toBe(config.clientPort);
      expect(config.dataDir).toBe(path.join(repoRoot, 'data', `node${i + 1}`));
      expect({ tickTime: config.tickTime, initLimit: config.initLimit, syncLimit: config.syncLimit, extendedTypesEnabled: config.extendedTypesEnabled }).toEqual({ tickTime: 2000, initLimit: 10, syncLimit: 5, extendedTypesEnabled: true });
    }
  });

  it('runs as written under zkts server, on other ports and directories: one member leads, two follow', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-conf-ensemble-'));
    const fixed = [2181, 2182, 2183, 2888, 2889, 2890, 3888, 3889, 3890];
    const free = new Map<number, number>();
    for (const port of fixed) free.set(port, await freePort());
    const clientPorts = [2181, 2182, 2183].map((p) => free.get(p)!);
    for (const [i, file] of files.entries()) {
      let text = await readFile(file, 'utf8');
      for (const [port, replacement] of free) text = text.replace(new RegExp(`\\b${port}\\b`, 'g'), String(replacement));
      text = text.replace(/^dataDir=.*$/m, `dataDir=${path.join(dir, `node${i + 1}`)}`);
      await mkdir(path.join(dir, `node${i + 1}`), { recursive: true });
      await writeFile(path.join(dir, `node${i + 1}`, 'myid'), `${i + 1}\n`);
      const configPath = path.join(dir, `zoo${i + 1}.cfg`);
      await writeFile(configPath, text);
      running.push(new MemberProcess({ name: `conf/ensemble member ${i + 1}`, configPath, logFile: null, seed: 1 }));
    }
    await Promise.all(running.map((p) => p.start()));
    const modes = await waitFor('a leader and two followers', async () => {
      const answers = await Promise.all(clientPorts.map((port) => fourLetterWord(port, 'srvr').then((t) => /^Mode: (\S+)/m.exec(t)?.[1] ?? 'none', () => 'none')));
      return answers.sort().join(',') === 'follower,follower,leader' ? answers : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    expect(modes).toEqual(['follower', 'follower', 'leader']);
  });
});
