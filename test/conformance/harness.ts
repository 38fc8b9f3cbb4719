// Harness for the third-party-client conformance suite.
//
// It starts one ZooKeeper-protocol server (Apache ZooKeeper 3.8 when
// ZKTS_TARGET=zookeeper, zkts otherwise) on a free port with a temporary data
// directory, waits for it to answer `ruok`, and offers small runners for the
// unmodified third-party clients the tests drive: the Java ZooKeeperMain CLI,
// a Java driver program built on org.apache.zookeeper.ZooKeeper, and kazoo
// scripts run by Debian's /usr/bin/python3.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { reservePort } from '../../src/testing/ports.js';
import { TestingServer } from '../../src/testing/server.js';
import { scaled, waitFor, withDeadline, type WaitOptions } from '../support/wait.js';

export { waitFor, withDeadline, type WaitOptions };

export type Target = 'zookeeper' | 'zkts';

const targetEnv = process.env.ZKTS_TARGET ?? 'zkts';
if (targetEnv !== 'zookeeper' && targetEnv !== 'zkts') {
  throw new Error(`ZKTS_TARGET must be "zookeeper" or "zkts", got ${JSON.stringify(targetEnv)}`);
}
export const target: Target = targetEnv;

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const conformanceDir = here;

/** Debian's interpreter, which has python3-kazoo; the python3 on PATH may not. */
export const systemPython = '/usr/bin/python3';

const javaDir = '/usr/share/java';
// A narrow class path starts a JVM noticeably faster than '/usr/share/java/*'
// and avoids SLF4J's "multiple bindings" noise.
const zookeeperJars = [
  'zookeeper.jar',
  'zookeeper-jute.jar',
  'slf4j-api.jar',
  'netty-all.jar',
  'commons-cli.jar',
  'metrics-core.jar',
];
const serverClassPath = [...zookeeperJars, 'slf4j-simple.jar'].map((jar) => path.join(javaDir, jar)).join(':');
const clientClassPath = [...zookeeperJars, 'slf4j-nop.jar'].map((jar) => path.join(javaDir, jar)).join(':');

/** `super:secret`; its digest is what superDigest holds. */
export const superUser = 'super';
export const superPassword = 'secret';

export function digestOf(user: string, password: string): string {
  const hash = createHash('sha1').update(`${user}:${password}`).digest('base64');
  return `${user}:${hash}`;
}

export const serverReadyTimeoutMs = 45_000;
const serverStopTimeoutMs = 10_000;
const logTailLines = 60;
const logBufferLines = 2_000;

// ---------------------------------------------------------------------------
// Waiting on conditions




// ---------------------------------------------------------------------------
// Ports and raw sockets

/** A port from the OS, reserved for the rest of this process (see test/support/net.ts). */
export async function freePort(): Promise<number> {
  return (await reservePort()).port;
}

/**
 * Sends raw bytes on a fresh connection and collects everything the server
 * writes until it closes the socket (or the deadline passes).
 */
export async function rawExchange(
  port: number,
  payload: Buffer | string,
  timeoutMs = 5_000,
): Promise<{ data: Buffer; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closedByServer: false });
    }, scaled(timeoutMs));
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      // A reset after the server's reply still counts as the server closing.
      clearTimeout(timer);
      if (chunks.length > 0 || (error as NodeJS.ErrnoException).code === 'ECONNRESET') {
        resolve({ data: Buffer.concat(chunks), closedByServer: true });
      } else {
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closedByServer: true });
    });
  });
}

export async function fourLetterWord(port: number, word: string, timeoutMs = 5_000): Promise<string> {
  const { data } = await rawExchange(port, word, timeoutMs);
  return data.toString('utf8');
}

// ---------------------------------------------------------------------------
// Server lifecycle

export interface ServerOptions {
  tickTime?: number;
  minSessionTimeout?: number;
  maxSessionTimeout?: number;
  /** `user:base64(sha1(user:password))`; defaults to the digest of super:secret. */
  superDigest?: string;
  maxClientCnxns?: number;
}

export interface ServerHandle {
  readonly target: Target;
  readonly host: string;
  readonly port: number;
  readonly connectString: string;
  readonly dataDir: string;
  readonly configPath: string;
  readonly superDigest: string;
  /** The last lines the server wrote (stdout and stderr interleaved). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

class LogBuffer {
  private readonly lines: string[] = [];
  private partial = '';

  push(chunk: Buffer, stream: string): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(`[${stream}] ${line}`);
  }

  private add(line: string): void {
    this.lines.push(line);
    if (this.lines.length > logBufferLines) this.lines.splice(0, this.lines.length - logBufferLines);
  }

  tail(count: number): string {
    const all = this.partial.length > 0 ? [...this.lines, this.partial] : this.lines;
    return all.slice(-count).join('\n');
  }
}

/** zkts: the one launcher, zkts/testing's TestingServer; clients use its own port. */
async function startZkts(options: Required<ServerOptions>): Promise<ServerHandle> {
  const server = await TestingServer.start({
    tickTime: options.tickTime,
    minSessionTimeout: options.minSessionTimeout,
    maxSessionTimeout: options.maxSessionTimeout,
    config: { maxClientCnxns: options.maxClientCnxns, 'admin.enableServer': 'false', extendedTypesEnabled: 'true', superDigest: options.superDigest },
    startTimeoutMs: serverReadyTimeoutMs,
  });
  return {
    target,
    host: '127.0.0.1',
    port: server.directPort,
    connectString: server.directConnectString,
    dataDir: server.dataDir,
    configPath: server.configPath,
    superDigest: options.superDigest,
    logTail: (lines = logTailLines) => server.logTail(lines),
    stop: () => server.close(),
  };
}

function zookeeperCfg(options: Required<ServerOptions>, dataDir: string, port: number): string {
  const lines = [
    `tickTime=${options.tickTime}`,
    `dataDir=${dataDir}`,
    `clientPort=${port}`,
    'clientPortAddress=127.0.0.1',
    `minSessionTimeout=${options.minSessionTimeout}`,
    `maxSessionTimeout=${options.maxSessionTimeout}`,
    `maxClientCnxns=${options.maxClientCnxns}`,
    '4lw.commands.whitelist=*',
    'admin.enableServer=false',
  ];
  return `${lines.join('\n')}\n`;
}

/** Apache ZooKeeper, given its settings as -D flags too (it would map unknown keys to zookeeper.* properties). */
function spawnZookeeper(configPath: string, superDigest: string): ChildProcess {
  return spawn(
    'java',
    [
      '-Xms64m',
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-cp',
      serverClassPath,
      '-Dzookeeper.extendedTypesEnabled=true',
      '-Dzookeeper.4lw.commands.whitelist=*',
      '-Dzookeeper.admin.enableServer=false',
      `-Dzookeeper.DigestAuthenticationProvider.superDigest=${superDigest}`,
      'org.apache.zookeeper.server.ZooKeeperServerMain',
      configPath,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), scaled(timeoutMs));
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** ZooKeeper binds with SO_REUSEADDR, so its port stays reserved for its life (src/testing/ports.ts). */
async function startZookeeper(options: Required<ServerOptions>): Promise<ServerHandle> {
  const baseDir = await mkdtemp(path.join(os.tmpdir(), 'zkts-conformance-zookeeper-'));
  const dataDir = path.join(baseDir, 'data');
  await mkdir(dataDir);
  const reservation = await reservePort();
  const port = reservation.port;
  const configPath = path.join(baseDir, 'zoo.cfg');
  await writeFile(configPath, zookeeperCfg(options, dataDir, port));

  const log = new LogBuffer();
  const child = spawnZookeeper(configPath, options.superDigest);
  child.stdout?.on('data', (chunk: Buffer) => log.push(chunk, 'out'));
  child.stderr?.on('data', (chunk: Buffer) => log.push(chunk, 'err'));
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, serverStopTimeoutMs))) {
        child.kill('SIGKILL');
        await waitForExit(child, serverStopTimeoutMs);
      }
    }
    reservation.close();
    await rm(baseDir, { recursive: true, force: true });
  };

  try {
    await waitFor(`zookeeper on port ${port} to answer ruok with imok`, async () => {
        if (exited) throw new Error(`server process exited early (code ${child.exitCode}, signal ${child.signalCode})`);
        return (await fourLetterWord(port, 'ruok', 1_000)) === 'imok';
      }, { timeoutMs: serverReadyTimeoutMs, intervalMs: 100 }
    );
  } catch (error) {
    await stop();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`zookeeper did not become ready: ${message}\n--- server log tail ---\n${log.tail(logTailLines)}`);
  }

  return {
    target,
    host: '127.0.0.1',
    port,
    connectString: `127.0.0.1:${port}`,
    dataDir,
    configPath,
    superDigest: options.superDigest,
    logTail: (lines = logTailLines) => log.tail(lines),
    stop,
  };
}

/** Starts the target server and waits until it answers. */
export async function startServer(options: ServerOptions = {}): Promise<ServerHandle> {
  const full: Required<ServerOptions> = {
    tickTime: options.tickTime ?? 200,
    minSessionTimeout: options.minSessionTimeout ?? 400,
    maxSessionTimeout: options.maxSessionTimeout ?? 60_000,
    superDigest: options.superDigest ?? digestOf(superUser, superPassword),
    maxClientCnxns: options.maxClientCnxns ?? 200,
  };
  return target === 'zkts' ? startZkts(full) : startZookeeper(full);
}

/** Prints the server's log tail after every failed test of the file. */
export function dumpServerLogOnFailure(getServer: () => ServerHandle | undefined): void {
  afterEach((context) => {
    const server = getServer();
    if (server === undefined || context.task.result?.state !== 'fail') return;
    process.stderr.write(
      `\n--- ${server.target} log tail (port ${server.port}) after failed test "${context.task.name}" ---\n` +
        `${server.logTail()}\n--- end of log tail ---\n`,
    );
  });
}

// ---------------------------------------------------------------------------
// Child-process runners

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function runProcess(
  command: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcessResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, scaled(timeoutMs));
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

export function describeProcess(what: string, result: ProcessResult): string {
  const tail = (text: string): string => text.split('\n').slice(-40).join('\n');
  return (
    `${what}: exit code ${result.code}, signal ${result.signal}${result.timedOut ? ' (timed out)' : ''}\n` +
    `--- stdout (tail) ---\n${tail(result.stdout)}\n--- stderr (tail) ---\n${tail(result.stderr)}`
  );
}

/** Result of a driver or script that prints one JSON object per line. */
export interface ScenarioRun {
  result: ProcessResult;
  events: Array<Record<string, unknown>>;
  /** Everything the process printed, for assertion messages. */
  transcript: string;
}

function parseJsonLines(stdout: string): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  for (const line of stdout.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{')) continue;
    try {
      events.push(JSON.parse(trimmed) as Record<string, unknown>);
    } catch {
      // Not one of ours (a stray log line); kept in the transcript only.
    }
  }
  return events;
}

// --- (a) ZooKeeperMain CLI

/**
 * Runs ZooKeeperMain with the commands fed on stdin (one session for all of
 * them), ending with `quit`.
 */
export async function runZkCli(server: ServerHandle, commands: string[], timeoutMs = 30_000): Promise<ProcessResult> {
  return runProcess(
    'java',
    [
      '-Xshare:auto',
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      '-cp',
      clientClassPath,
      'org.apache.zookeeper.ZooKeeperMain',
      '-server',
      server.connectString,
    ],
    { input: `${[...commands, 'quit'].join('\n')}\n`, timeoutMs },
  );
}

/** Runs ZooKeeperMain with one command on its command line. */
export async function runZkCliCommand(server: ServerHandle, args: string[], timeoutMs = 30_000): Promise<ProcessResult> {
  return runProcess(
    'java',
    ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', clientClassPath, 'org.apache.zookeeper.ZooKeeperMain', '-server', server.connectString, ...args],
    { timeoutMs },
  );
}

// --- (b) Java driver on the real ZooKeeper client API

const driverSource = path.join(conformanceDir, 'java', 'ZkDriver.java');
let driverClassDir: Promise<string> | undefined;

/**
 * Compiles ZkDriver.java once per content hash into os.tmpdir(). Parallel
 * test files compile into private directories and rename into place, so a
 * half-written cache is never used.
 */
export function compileDriver(): Promise<string> {
  driverClassDir ??= (async () => {
    const source = await readFile(driverSource);
    const hash = createHash('sha256').update(source).update(clientClassPath).digest('hex').slice(0, 16);
    const cacheDir = path.join(os.tmpdir(), `zkts-conformance-zkdriver-${hash}`);
    if (existsSync(path.join(cacheDir, 'ZkDriver.class'))) return cacheDir;
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'zkts-conformance-javac-'));
    const result = await runProcess('javac', ['-nowarn', '-cp', clientClassPath, '-d', workDir, driverSource], { timeoutMs: 120_000 });
    if (result.code !== 0) {
      await rm(workDir, { recursive: true, force: true });
      throw new Error(describeProcess('javac ZkDriver.java failed', result));
    }
    try {
      await rename(workDir, cacheDir);
    } catch {
      // Another worker won the race; its copy is identical.
      await rm(workDir, { recursive: true, force: true });
    }
    return cacheDir;
  })();
  return driverClassDir;
}

/** Runs one ZkDriver scenario; its JSON lines come back parsed. */
export async function runDriver(
  server: ServerHandle,
  scenario: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<ScenarioRun> {
  const classDir = await compileDriver();
  const result = await runProcess(
    'java',
    [
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      '-cp',
      `${classDir}:${clientClassPath}`,
      `-Dzookeeper.jute.maxbuffer=${0xfffff}`,
      'ZkDriver',
      server.connectString,
      scenario,
      ...args,
    ],
    { timeoutMs },
  );
  return { result, events: parseJsonLines(result.stdout), transcript: describeProcess(`ZkDriver ${scenario}`, result) };
}

// --- (c) kazoo scripts

/** Runs test/conformance/python/<script> with Debian's python3 and kazoo. */
export async function runKazoo(
  server: ServerHandle,
  script: string,
  scenario: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<ScenarioRun> {
  const scriptPath = path.join(conformanceDir, 'python', script);
  const result = await runProcess(systemPython, [scriptPath, server.connectString, scenario, ...args], {
    timeoutMs,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: '' },
  });
  return { result, events: parseJsonLines(result.stdout), transcript: describeProcess(`kazoo ${script} ${scenario}`, result) };
}

/** Picks the events of one kind (the `ev` field) from a scenario run. */
export function eventsOf(run: ScenarioRun, kind: string): Array<Record<string, unknown>> {
  return run.events.filter((event) => event.ev === kind);
}

/** The single event with `ev === kind` and, if given, `step === step`. */
export function stepOf(run: ScenarioRun, step: string): Record<string, unknown> {
  const found = run.events.find((event) => event.ev === 'step' && event.step === step);
  if (found === undefined) throw new Error(`no step "${step}" in the output\n${run.transcript}`);
  return found;
}
