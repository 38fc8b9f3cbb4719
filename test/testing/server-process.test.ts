// Every way a member is started gets the same node flags and malloc settings
// (src/testing/server-process.ts): the launcher, the `zkts` command run as an executable (its
// shebang), and the container image (its Dockerfile). Real processes, read back from /proc.
// And a member started so gives back, once idle, the young generation a load grew.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { MemberProcess, packageRoot } from '../../src/testing/member-process.js';
import { reservePort } from '../../src/testing/ports.js';
import { serverNodeArgs, serverProcessEnv } from '../../src/testing/server-process.js';
import { waitFor } from '../../src/testing/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A standalone zoo.cfg on a reserved port in a temporary directory, removed after the test. */
async function standaloneConfig(): Promise<string> {
  return (await standalone()).configPath;
}

async function standalone(): Promise<{ configPath: string; port: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-server-process-'));
  const port = await reservePort();
  cleanups.push(async () => {
    port.close();
    await rm(dir, { recursive: true, force: true });
  });
  const configPath = path.join(dir, 'zoo.cfg');
  await writeFile(configPath, [`dataDir=${path.join(dir, 'data')}`, `clientPort=${port.port}`, 'clientPortAddress=127.0.0.1'].join('\n'));
  return { configPath, port: port.port };
}

/** A process's argv and environment, from /proc. */
function processView(pid: number): { argv: string[]; env: Record<string, string> } {
  const fields = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'latin1').split('\0').filter((s) => s !== '');
  const env = Object.fromEntries(fields('environ').map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  return { argv: fields('cmdline'), env };
}

/** Asserts a server process runs node with serverNodeArgs before bin/zkts.js, and with serverProcessEnv. */
function expectServerSettings(pid: number): void {
  const { argv, env } = processView(pid);
  const entry = argv.findIndex((arg) => arg.endsWith(path.join('bin', 'zkts.js')));
  expect(entry).toBeGreaterThan(0);
  expect(argv.slice(1, entry)).toEqual(expect.arrayContaining([...serverNodeArgs]));
  expect(argv.slice(entry + 1, entry + 2)).toEqual(['server']);
  for (const [key, value] of Object.entries(serverProcessEnv)) expect(env[key], key).toBe(value);
}

describe('how a zkts server process is started', () => {
  it('the launcher starts a member with the node flags and the malloc settings', async () => {
    const member = new MemberProcess({ name: 'server 1', configPath: await standaloneConfig(), logFile: null, seed: 1 });
    cleanups.push(() => member.kill());
    await member.start();
    expectServerSettings(member.pid!);
  });

  it('the zkts command run as an executable starts node with the same, through its shebang', async () => {
    const child = spawn(path.join(packageRoot, 'bin', 'zkts.js'), ['server', await standaloneConfig(), '--log-level', 'silent'], {
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !(key in serverProcessEnv))),
      stdio: 'ignore',
    });
    cleanups.push(() => void child.kill('SIGKILL'));
    // env(1) execs node in the same process; until then /proc shows env itself.
    await waitFor('the shebang to exec node', () => {
      const argv0 = processView(child.pid!).argv[0] ?? '';
      return path.basename(argv0) === 'node' || argv0 === process.execPath;
    });
    expectServerSettings(child.pid!);
  });

  it("the Dockerfile gives the image's server the same environment and node flags", () => {
    const dockerfile = readFileSync(path.join(packageRoot, 'Dockerfile'), 'utf8');
    const env = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)?.[1] ?? '';
    for (const [key, value] of Object.entries(serverProcessEnv)) expect(env).toContain(`${key}=${value}`);
    const entrypoint = /^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? 'null';
    expect(JSON.parse(entrypoint)).toEqual(['node', ...serverNodeArgs, '/opt/zkts/bin/zkts.js']);
  });

  it('a member gives back the young generation a load grew once it is idle (src/server/young-generation-trim.ts)', async () => {
    const { configPath, port } = await standalone();
    const member = new MemberProcess({ name: 'server 1', configPath, logFile: null, seed: 1 });
    cleanups.push(() => member.kill());
    await member.start();
    const zk = createClient(`127.0.0.1:${port}`, { sessionTimeout: 4_000 });
    cleanups.push(() => zk.close());
    await zk.connect();
    // Writes with many in flight, as a load keeps them, so that V8 grows the semi-spaces.
    const data = Buffer.alloc(1024);
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => zk.create(`/load-${batch}-${i}`, data)));
    }
    const record = await waitFor('the member to trim its young generation', () => member.log.find('young generation trimmed').at(-1));
    expect(record.residentBytes).toBeGreaterThan(record.residentBytesAfter as number);
    expect(record.residentBytesAfter).toBeLessThanOrEqual(4 * 1024 * 1024);
  });
});
