// Test helpers: start a real server (Apache ZooKeeper 3.8, or zkts through zkts/testing's
// TestingServer) on a port reserved from the OS with a temporary dataDir, and waiting on
// conditions with deadlines. The TCP proxy with its toxics is src/faults' TcpProxy.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { reservePort } from '../../src/testing/ports.js';
import { TestingServer } from '../../src/testing/server.js';
import { freePort, waitFor, fourLetterWord } from '../support/net.js';

export { freePort, waitFor, fourLetterWord };

export type Target = 'zookeeper' | 'zkts';

/** Targets from ZKTS_CLIENT_TARGETS (default: both). */
export function targets(): Target[] {
  const raw = process.env['ZKTS_CLIENT_TARGETS'] ?? 'zookeeper,zkts';
  const out: Target[] = [];
  for (const t of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (t !== 'zookeeper' && t !== 'zkts') throw new Error(`unknown ZKTS_CLIENT_TARGETS entry '${t}'`);
    out.push(t);
  }
  return out;
}




export interface ServerOptions {
  tickTime?: number;
  /** Extra zoo.cfg lines, key=value. */
  config?: Record<string, string | number>;
}

export interface TestServer {
  readonly target: Target;
  readonly port: number;
  readonly dataDir: string;
  readonly connectString: string;
  /** Kills the process (SIGKILL: nothing is flushed beyond what the server already synced). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same dataDir. */
  restart(): Promise<void>;
  /** Kills it and removes its files. */
  stop(): Promise<void>;
  output(): string;
}

export async function startServer(target: Target, options: ServerOptions = {}): Promise<TestServer> {
  return target === 'zkts' ? startZkts(options) : startZookeeper(options);
}

/** zkts: the one launcher; the connection string is the server's own port (tests put their own proxies in front). */
async function startZkts(options: ServerOptions): Promise<TestServer> {
  const server = await TestingServer.start({
    tickTime: options.tickTime ?? 500,
    minSessionTimeout: (options.tickTime ?? 500) * 2,
    maxSessionTimeout: (options.tickTime ?? 500) * 20,
    config: { 'admin.enableServer': 'false', extendedTypesEnabled: 'true', ...options.config },
  });
  return {
    target: 'zkts',
    port: server.directPort,
    dataDir: server.dataDir,
    connectString: server.directConnectString,
    kill: () => server.kill(),
    restart: async () => {
      await server.kill();
      await server.start();
    },
    stop: () => server.close(),
    output: () => server.logTail(1_000).slice(-20_000),
  };
}

async function startZookeeper(options: ServerOptions): Promise<TestServer> {
  // ZooKeeper binds with SO_REUSEADDR, so the reservation can stay for the server's life.
  const reservation = await reservePort();
  const port = reservation.port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zkts-client-zookeeper-'));
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const cfgPath = path.join(dir, 'zoo.cfg');
  const cfg: Record<string, string | number> = {
    tickTime: options.tickTime ?? 500,
    dataDir,
    clientPort: port,
    clientPortAddress: '127.0.0.1',
    'admin.enableServer': 'false',
    '4lw.commands.whitelist': '*',
    // ZooKeeper turns unknown zoo.cfg keys into zookeeper.* system properties, so this
    // enables TTL nodes (the JVM also gets -Dzookeeper.extendedTypesEnabled).
    extendedTypesEnabled: 'true',
    ...options.config,
  };
  writeFileSync(cfgPath, Object.entries(cfg).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');

  let child: ChildProcess | null = null;
  let out = '';
  const launch = async (): Promise<void> => {
    child = spawnZookeeper(cfgPath);
    const proc = child;
    proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    let exited = false;
    proc.once('exit', () => (exited = true));
    await waitFor(`zookeeper on port ${port} to answer ruok and serve`, async () => {
        if (exited) throw new Error(`zookeeper server exited during start-up:\n${out}`);
        if ((await fourLetterWord(port, 'ruok', 1000).catch(() => '')) !== 'imok') return false;
        // ZooKeeper answers ruok before it serves sessions (a ConnectRequest is then closed);
        // srvr says so until it is really up.
        const srvr = await fourLetterWord(port, 'srvr', 1000).catch(() => 'not currently serving');
        return !srvr.includes('not currently serving');
      }, { timeoutMs: 30_000, intervalMs: 50 }
    ).catch((err: Error) => {
      proc.kill('SIGKILL');
      throw new Error(`${err.message}\n--- server output ---\n${out}`);
    });
  };
  const kill = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  };
  await launch();
  return {
    target: 'zookeeper',
    port,
    dataDir,
    connectString: `127.0.0.1:${port}`,
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill();
      reservation.close();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => out,
  };
}

function spawnZookeeper(cfgPath: string): ChildProcess {
  return spawn(
    'java',
    [
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Dzookeeper.extendedTypesEnabled=true',
      '-Dzookeeper.4lw.commands.whitelist=*',
      '-Dzookeeper.admin.enableServer=false',
      '-cp',
      '/usr/share/java/*:/etc/zookeeper/conf',
      'org.apache.zookeeper.server.ZooKeeperServerMain',
      cfgPath,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}
