// `zkts server` refuses to start, at once and clearly, when a port or directory the config
// names cannot be used: it exits non-zero with the key, the value and the cause, and leaves
// nothing bound behind it (a member never runs half-started).
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { holdPort, isFree, requireBuild, runServerProcess as runServer, unusableResourceExit } from '../support/server-process.js';

describe('zkts server start-up', () => {
  let base: string;
  const held: net.Server[] = [];

  beforeAll(requireBuild);

  afterEach(async () => {
    for (const s of held.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  });

  function dir(): string {
    base = mkdtempSync(path.join(os.tmpdir(), 'zkts-startup-'));
    return base;
  }

  function writeConfig(lines: string[]): string {
    const file = path.join(base, 'zoo.cfg');
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  async function member(clientPort: number, electionPort: number): Promise<string> {
    const dataDir = path.join(dir(), 'data');
    mkdirSync(dataDir);
    writeFileSync(path.join(dataDir, 'myid'), '1\n');
    const [quorum1, quorum2, election2] = [await freePort(), await freePort(), await freePort()];
    return writeConfig([
      'tickTime=100',
      `dataDir=${dataDir}`,
      `clientPort=${clientPort}`,
      'clientPortAddress=127.0.0.1',
      `server.1=127.0.0.1:${quorum1}:${electionPort}`,
      `server.2=127.0.0.1:${quorum2}:${election2}`,
    ]);
  }

  it('a standalone server refuses a client port in use, naming clientPort, the port and EADDRINUSE', async () => {
    const port = await freePort();
    held.push(await holdPort(port));
    const config = writeConfig(['tickTime=2000', `dataDir=${path.join(dir(), 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1']);
    const { code, stderr } = await runServer(config);
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toContain(`config key 'clientPort' = ${port}`);
    expect(stderr).toContain('EADDRINUSE');
  });

  it('an ensemble member whose client port is taken exits instead of running half-started, leaving its election port free', async () => {
    const [clientPort, electionPort] = [await freePort(), await freePort()];
    held.push(await holdPort(clientPort));
    const { code, stderr } = await runServer(await member(clientPort, electionPort));
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toContain(`config key 'clientPort' = ${clientPort}`);
    expect(stderr).toContain('EADDRINUSE');
    expect(await isFree(electionPort)).toBe(true);
  });

  it('an ensemble member whose election port is taken exits, naming its server.N line, leaving its client port free', async () => {
    const [clientPort, electionPort] = [await freePort(), await freePort()];
    held.push(await holdPort(electionPort));
    const { code, stderr } = await runServer(await member(clientPort, electionPort));
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toMatch(new RegExp(`config key 'server\\.1' = 127\\.0\\.0\\.1:\\d+:${electionPort}: cannot listen on election port`));
    expect(stderr).toContain('EADDRINUSE');
    expect(await isFree(clientPort)).toBe(true);
  });

  it('refuses a dataDir that is a file, naming dataDir and the path, and creates nothing', async () => {
    const file = path.join(dir(), 'not-a-dir');
    writeFileSync(file, 'x');
    const config = writeConfig(['tickTime=2000', `dataDir=${file}`, `clientPort=${await freePort()}`]);
    const { code, stderr } = await runServer(config);
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toContain(`config key 'dataDir' = ${file}: is a file, not a directory (EEXIST)`);
    expect(readdirSync(base).sort()).toEqual(['not-a-dir', 'zoo.cfg']);
  });

  it('refuses a dataLogDir beneath a file, naming dataLogDir', async () => {
    const file = path.join(dir(), 'a-file');
    writeFileSync(file, 'x');
    const logDir = path.join(file, 'log');
    const config = writeConfig(['tickTime=2000', `dataDir=${path.join(base, 'data')}`, `dataLogDir=${logDir}`, `clientPort=${await freePort()}`]);
    const { code, stderr } = await runServer(config);
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toContain(`config key 'dataLogDir' = ${logDir}: a part of the path is a file, not a directory (ENOTDIR)`);
  });

  it('refuses a dataDir it may not write to, naming dataDir', async () => {
    const dataDir = path.join(dir(), 'read-only');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o555);
    const config = writeConfig(['tickTime=2000', `dataDir=${dataDir}`, `clientPort=${await freePort()}`]);
    const { code, stderr } = await runServer(config, true);
    expect(code).toBe(unusableResourceExit);
    expect(stderr).toContain(`config key 'dataDir' = ${dataDir}: is not writable (EACCES)`);
  });
});
