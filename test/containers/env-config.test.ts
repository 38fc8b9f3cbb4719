import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareConfigFromEnv, zooCfgFromEnv } from '../../src/cli/env-config.js';
import { buildConfig, parseProperties } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { runZkts } from '../support/cli.js';
import { freePort } from '../support/net.js';
import { waitFor, withDeadline } from '../support/wait.js';

// The image's configuration step without Docker: ZOO_* variables in, zoo.cfg text out, bad
// values refused naming the variable; then `zkts server --from-env` and `zkts 4lw --expect`
// (the image's entrypoint and health check) as real processes.

const servers = 'server.1=zoo1:2888:3888;2181 server.2=zoo2:2888:3888;2181 server.3=zoo3:2888:3888;2181';

function configOf(env: Record<string, string>) {
  return buildConfig(parseProperties(zooCfgFromEnv(env)), null).config;
}

function refusal(env: Record<string, string>): ConfigError {
  try {
    zooCfgFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('zoo.cfg from ZOO_* variables', () => {
  it("with no variables it is the official image's standalone defaults, plus ruok for the health check", () => {
    expect(zooCfgFromEnv({})).toBe(
      [
        '# Written by `zkts server --from-env` from the ZOO_* environment variables.',
        'dataDir=/data',
        'dataLogDir=/datalog',
        'tickTime=2000',
        'initLimit=5',
        'syncLimit=2',
        'maxClientCnxns=60',
        'autopurge.snapRetainCount=3',
        'autopurge.purgeInterval=0',
        'standaloneEnabled=true',
        '4lw.commands.whitelist=srvr,ruok',
        'clientPort=2181',
        '',
      ].join('\n'),
    );
  });

  it('every variable reaches its zoo.cfg key, and the result is a valid ensemble config', () => {
    const config = configOf({
      ZOO_MY_ID: '2',
      ZOO_SERVERS: servers,
      ZOO_DATA_DIR: '/var/zk/data',
      ZOO_DATA_LOG_DIR: '/var/zk/log',
      ZOO_TICK_TIME: '500',
      ZOO_INIT_LIMIT: '7',
      ZOO_SYNC_LIMIT: '3',
      ZOO_MAX_CLIENT_CNXNS: '0',
      ZOO_AUTOPURGE_SNAPRETAINCOUNT: '5',
      ZOO_AUTOPURGE_PURGEINTERVAL: '24',
      ZOO_STANDALONE_ENABLED: 'false',
      ZOO_4LW_COMMANDS_WHITELIST: 'ruok, srvr,mntr',
      ZOO_CFG_EXTRA: 'minSessionTimeout=1000 extendedTypesEnabled=true',
    });
    expect(config).toMatchObject({
      dataDir: '/var/zk/data',
      dataLogDir: '/var/zk/log',
      tickTime: 500,
      initLimit: 7,
      syncLimit: 3,
      maxClientCnxns: 0,
      snapRetainCount: 5,
      purgeInterval: 24,
      minSessionTimeout: 1000,
      extendedTypesEnabled: true,
      clientPort: -1,
    });
    expect([...config.fourLetterWords]).toEqual(['ruok', 'srvr', 'mntr']);
    expect(config.servers.map((s) => [s.sid, s.host, s.electionPort, s.clientPort])).toEqual([
      [1, 'zoo1', 3888, 2181],
      [2, 'zoo2', 3888, 2181],
      [3, 'zoo3', 3888, 2181],
    ]);
  });

  it('server lines without a client port (the 3.4 format) get clientPort=2181', () => {
    const config = configOf({ ZOO_MY_ID: '1', ZOO_SERVERS: 'server.1=zoo1:2888:3888\nserver.2=zoo2:2888:3888 server.3=zoo3:2888:3888' });
    expect(config.clientPort).toBe(2181);
    expect(config.servers).toHaveLength(3);
  });

  it('ZOO_CFG_EXTRA entries come last, so they win over the generated keys', () => {
    expect(configOf({ ZOO_TICK_TIME: '500', ZOO_CFG_EXTRA: 'tickTime=700 clientPort=12181' })).toMatchObject({ tickTime: 700, clientPort: 12181 });
  });

  it.each([
    ['ZOO_TICK_TIME', { ZOO_TICK_TIME: '2s' }, "'2s' is not a whole number"],
    ['ZOO_INIT_LIMIT', { ZOO_INIT_LIMIT: '0' }, '0 is less than 1'],
    ['ZOO_SYNC_LIMIT', { ZOO_SYNC_LIMIT: '-1' }, "'-1' is not a whole number"],
    ['ZOO_MAX_CLIENT_CNXNS', { ZOO_MAX_CLIENT_CNXNS: 'many' }, "'many' is not a whole number"],
    ['ZOO_AUTOPURGE_SNAPRETAINCOUNT', { ZOO_AUTOPURGE_SNAPRETAINCOUNT: '2' }, '2 is less than 3'],
    ['ZOO_AUTOPURGE_PURGEINTERVAL', { ZOO_AUTOPURGE_PURGEINTERVAL: '1.5' }, "'1.5' is not a whole number"],
    ['ZOO_STANDALONE_ENABLED', { ZOO_STANDALONE_ENABLED: 'yes please' }, "'yes please' is not true or false"],
    ['ZOO_DATA_DIR', { ZOO_DATA_DIR: 'data' }, "'data' is not an absolute path"],
    ['ZOO_DATA_LOG_DIR', { ZOO_DATA_LOG_DIR: './log' }, "'./log' is not an absolute path"],
    ['ZOO_4LW_COMMANDS_WHITELIST', { ZOO_4LW_COMMANDS_WHITELIST: 'srvr,mntr' }, 'leaves out ruok'],
    ['ZOO_4LW_COMMANDS_WHITELIST', { ZOO_4LW_COMMANDS_WHITELIST: 'ruok,oops' }, "unknown four-letter word 'oops'"],
    ['ZOO_SERVERS', { ZOO_MY_ID: '1', ZOO_SERVERS: 'zoo1:2888:3888' }, "'zoo1:2888:3888' is not server.N="],
    ['ZOO_SERVERS', { ZOO_MY_ID: '1', ZOO_SERVERS: 'server.1=zoo1:2888' }, 'is not host:quorumPort:electionPort'],
    ['ZOO_SERVERS', { ZOO_MY_ID: '1', ZOO_SERVERS: 'server.1=zoo1:2888:3888 server.1=zoo2:2888:3888' }, 'server.1 appears twice'],
    ['ZOO_SERVERS', { ZOO_MY_ID: '1', ZOO_SERVERS: 'server.1=zoo1:2888:3888;2181 server.2=zoo2:2888:3888' }, 'give it in all or in none'],
    ['ZOO_MY_ID', { ZOO_SERVERS: servers }, 'is required with the servers in ZOO_SERVERS'],
    ['ZOO_MY_ID', { ZOO_MY_ID: '4', ZOO_SERVERS: servers }, '4 has no server.4 entry in ZOO_SERVERS'],
    ['ZOO_MY_ID', { ZOO_MY_ID: 'one' }, "'one' is not a server id"],
    ['ZOO_CFG_EXTRA', { ZOO_CFG_EXTRA: 'tickTime=700 snapCount' }, "'snapCount' is not key=value"],
  ])('%s: a bad value is refused naming the variable (%j)', (variable, env, why) => {
    const error = refusal(env);
    expect(error.key).toBe(variable);
    expect(error.message).toContain(why);
  });
});

describe('prepareConfigFromEnv: what the image does before the server starts', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-env-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes zoo.cfg and myid when neither exists, and writes neither again', async () => {
    const file = path.join(dir, 'conf/zoo.cfg');
    const env = { ZOO_MY_ID: '3', ZOO_SERVERS: servers, ZOO_DATA_DIR: path.join(dir, 'data') };
    expect(prepareConfigFromEnv(file, env)).toEqual({ written: true, myIdWritten: true });
    expect(await readFile(file, 'utf8')).toBe(zooCfgFromEnv(env));
    expect(await readFile(path.join(dir, 'data/myid'), 'utf8')).toBe('3\n');
    // A restart with other variables keeps what the first start wrote, as the official image does.
    expect(prepareConfigFromEnv(file, { ...env, ZOO_MY_ID: '1', ZOO_TICK_TIME: '100' })).toEqual({ written: false, myIdWritten: false });
    expect(await readFile(file, 'utf8')).toBe(zooCfgFromEnv(env));
    expect(await readFile(path.join(dir, 'data/myid'), 'utf8')).toBe('3\n');
  });

  it('a mounted zoo.cfg wins over the variables; myid still comes from ZOO_MY_ID', async () => {
    const file = path.join(dir, 'zoo.cfg');
    const mounted = `tickTime=1234\ndataDir=${path.join(dir, 'mine')}\nserver.7=a:1:2;2181\nserver.8=b:1:2;2181\nserver.9=c:1:2;2181\n`;
    await writeFile(file, mounted);
    expect(prepareConfigFromEnv(file, { ZOO_TICK_TIME: '99', ZOO_MY_ID: '8' })).toEqual({ written: false, myIdWritten: true });
    expect(await readFile(file, 'utf8')).toBe(mounted);
    expect(await readFile(path.join(dir, 'mine/myid'), 'utf8')).toBe('8\n');
  });

  it("a mounted ensemble zoo.cfg without myid and without ZOO_MY_ID is refused naming ZOO_MY_ID, or a ZOO_MY_ID it does not list", async () => {
    const file = path.join(dir, 'zoo.cfg');
    await writeFile(file, `dataDir=${path.join(dir, 'mine')}\nserver.1=a:1:2;2181\nserver.2=b:1:2;2181\nserver.3=c:1:2;2181\n`);
    expect(() => prepareConfigFromEnv(file, {})).toThrow(/'ZOO_MY_ID': is required with the servers in .*zoo\.cfg/);
    expect(() => prepareConfigFromEnv(file, { ZOO_MY_ID: '5' })).toThrow(/'ZOO_MY_ID': 5 has no server.5 entry in .*zoo\.cfg/);
    expect(existsSync(path.join(dir, 'mine/myid'))).toBe(false);
  });
});

describe('the image entrypoint and health check as processes: zkts server --from-env, zkts 4lw --expect', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-from-env-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a server configured only by variables serves; ruok --expect imok exits 0, another expectation exits 1 naming the answer', async () => {
    const port = await freePort();
    const env = {
      ZOO_DATA_DIR: path.join(dir, 'data'),
      ZOO_DATA_LOG_DIR: path.join(dir, 'datalog'),
      ZOO_TICK_TIME: '500',
      ZOO_CFG_EXTRA: `clientPort=${port} clientPortAddress=127.0.0.1`,
    };
    let server: ChildProcess | undefined;
    const serverRun = runZkts(['server', '--from-env', path.join(dir, 'conf/zoo.cfg'), '--log-level', 'warn'], { env, onStart: (child) => (server = child) });
    try {
      const healthy = await waitFor('the server to answer ruok', async () => {
        const run = await runZkts(['4lw', 'ruok', `127.0.0.1:${port}`, '--expect', 'imok'], { timeoutMs: 10_000 });
        return run.code === 0 ? run : null;
      });
      expect(healthy.out).toBe('imok');
      const wrong = await runZkts(['4lw', 'ruok', `127.0.0.1:${port}`, '--expect', 'fine'], { timeoutMs: 10_000 });
      expect(wrong.code).toBe(1);
      expect(wrong.err).toContain("answered 'imok', not 'fine'");
      const srvr = await runZkts(['4lw', 'srvr', `127.0.0.1:${port}`], { timeoutMs: 10_000 });
      expect(srvr.out).toMatch(/^Mode: standalone$/m);
      expect(await readFile(path.join(dir, 'conf/zoo.cfg'), 'utf8')).toContain('tickTime=500');
    } finally {
      server!.kill('SIGTERM');
      expect((await withDeadline(serverRun, 15_000, 'the server to stop')).code).toBe(0);
    }
  });

  it('a health check against nothing listening exits 1', async () => {
    const port = await freePort();
    const run = await runZkts(['4lw', 'ruok', `127.0.0.1:${port}`, '--expect', 'imok'], { timeoutMs: 10_000 });
    expect(run.code).toBe(1);
    expect(run.err).toContain('ECONNREFUSED');
  });

  it('a bad variable stops the server before it writes anything: exit 2, the variable named', async () => {
    const file = path.join(dir, 'conf/zoo.cfg');
    const run = await runZkts(['server', '--from-env', file], { env: { ZOO_DATA_DIR: path.join(dir, 'data'), ZOO_SYNC_LIMIT: 'soon' }, timeoutMs: 15_000 });
    expect(run.code).toBe(2);
    expect(run.err).toContain("cannot configure from the environment: config key 'ZOO_SYNC_LIMIT': 'soon' is not a whole number");
    expect(existsSync(file)).toBe(false);
  });
});
