// Test helpers: start a real server (Apache ZooKeeper 3.8 or zkts) on a free port with a
// temporary dataDir, a TCP proxy that can cut, stall or blackhole connections, and waiting
// on conditions with deadlines.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor, fourLetterWord } from '../support/net.js';

export { freePort, waitFor, fourLetterWord };

export type Target = 'zookeeper' | 'zkts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

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
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), `zkts-client-${target}-`));
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
    // enables TTL nodes on both servers (the JVM also gets -Dzookeeper.extendedTypesEnabled).
    extendedTypesEnabled: 'true',
    ...options.config,
  };
  writeFileSync(cfgPath, Object.entries(cfg).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');

  let child: ChildProcess | null = null;
  let out = '';
  const launch = async (): Promise<void> => {
    child = spawnServer(target, cfgPath);
    const proc = child;
    proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    let exited = false;
    proc.once('exit', () => (exited = true));
    await waitFor(`${target} on port ${port} to answer ruok and serve`, async () => {
        if (exited) throw new Error(`${target} server exited during start-up:\n${out}`);
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
    target,
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
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => out,
  };
}

function spawnServer(target: Target, cfgPath: string): ChildProcess {
  if (target === 'zookeeper') {
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
  const bin = path.join(repoRoot, 'bin', 'zkts.js');
  if (!existsSync(path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('zkts target needs a build: run `npx tsc -p tsconfig.json` in the repo first');
  }
  return spawn(process.execPath, [bin, 'server', cfgPath], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export type ProxyMode = 'forward' | 'stall' | 'blackhole' | 'hold-replies';

interface ProxiedPair {
  client: net.Socket;
  upstream: net.Socket | null;
  /** Bytes held while stalled, per direction. */
  toUpstream: Buffer[];
  toClient: Buffer[];
  /** The server's side closed while blackholed: the client hears of it only on resume(). */
  upstreamLost: boolean;
}

/**
 * A TCP proxy in front of a server: forward passes bytes; stall holds them both ways (delivered on resume, like a network that
 * stopped); blackhole swallows them and never connects upstream; hold-replies passes requests
 * to the server but holds its replies, so a test can let the server act on requests whose
 * answers the client never gets. cut() resets every current connection.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly pairs = new Set<ProxiedPair>();
  mode: ProxyMode = 'forward';
  port = 0;
  /** Connections accepted so far. */
  accepted = 0;

  constructor(private targetPort: number, private readonly targetHost = '127.0.0.1') {}

  get connectString(): string {
    return `127.0.0.1:${this.port}`;
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  /** Later connections go to another port (a restarted server). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  async start(port = 0): Promise<this> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    return this;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const pair: ProxiedPair = { client, upstream: null, toUpstream: [], toClient: [], upstreamLost: false };
    this.pairs.add(pair);
    client.on('error', () => this.end(pair));
    client.on('close', () => this.end(pair));
    client.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') return;
      const upstream = pair.upstream;
      if (this.mode === 'stall' || upstream === null || upstream.connecting) pair.toUpstream.push(chunk);
      else upstream.write(chunk);
    });
    if (this.mode !== 'blackhole') this.connectUpstream(pair);
  }

  private end(pair: ProxiedPair): void {
    this.pairs.delete(pair);
    pair.client.destroy();
    pair.upstream?.destroy();
  }

  private connectUpstream(pair: ProxiedPair): void {
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
    pair.upstream = upstream;
    // A blackhole swallows the server's FIN or RST like everything else: the client must find
    // out by its read timeout (an election under load closing the server's connections would
    // otherwise reach it as "closed the connection").
    const lost = (): void => {
      if (this.mode !== 'blackhole' || !this.pairs.has(pair)) return this.end(pair);
      upstream.destroy();
      pair.upstream = null;
      pair.upstreamLost = true;
    };
    upstream.on('error', lost);
    upstream.on('close', lost);
    upstream.on('connect', () => this.flush(pair));
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') return;
      if (this.mode === 'forward') pair.client.write(chunk);
      else pair.toClient.push(chunk);
    });
  }

  private flush(pair: ProxiedPair): void {
    const upstream = pair.upstream;
    if (upstream === null || upstream.connecting) return;
    if (this.mode === 'forward' || this.mode === 'hold-replies') for (const c of pair.toUpstream.splice(0)) upstream.write(c);
    if (this.mode === 'forward') for (const c of pair.toClient.splice(0)) pair.client.write(c);
  }

  /** Stops forwarding in both directions; new connections are accepted but stalled too. */
  stall(): void {
    this.mode = 'stall';
  }

  /** Requests still reach the server; its replies are held until resume(). */
  holdReplies(): void {
    this.mode = 'hold-replies';
  }

  /** Swallows everything from now on; new connections never reach the server. */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const pair of this.pairs) {
      pair.toUpstream.length = 0;
      pair.toClient.length = 0;
    }
  }

  /** Back to forwarding; held bytes are delivered. */
  resume(): void {
    this.mode = 'forward';
    for (const pair of [...this.pairs]) {
      if (pair.upstreamLost) this.end(pair);
      else if (pair.upstream === null) this.connectUpstream(pair);
      else this.flush(pair);
    }
  }

  /** Resets every open connection (both sides see the connection drop). */
  cut(): void {
    for (const pair of [...this.pairs]) {
      this.pairs.delete(pair);
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
    }
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
