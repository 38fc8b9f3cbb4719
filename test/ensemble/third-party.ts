// Unmodified third-party clients against ensemble members: node-zookeeper-client (npm, pure
// JavaScript) behind a small promise wrapper, and Apache ZooKeeper's own ZooKeeperMain CLI.
import { spawn } from 'node:child_process';
import path from 'node:path';
import zk, { type Exception } from 'node-zookeeper-client';
import type { Member } from './cluster-harness.js';
import { repoRoot, withDeadline } from './cluster-harness.js';
import { scaled } from '../../src/testing/wait.js';

const openAcl = [new zk.ACL(31, new zk.Id('world', 'anyone'))];
const nodeOpTimeoutMs = 5_000;

export interface NodeClient {
  readonly sessionId: Buffer;
  readonly sessionPassword: Buffer;
  create(path: string, data: string, mode?: number): Promise<string>;
  getData(path: string): Promise<string>;
  getChildren(path: string): Promise<string[]>;
  /** Every node under root as path → data, sorted by path. */
  dump(root: string): Promise<Record<string, string>>;
  close(): void;
}

function call<T>(what: string, run: (cb: (error: Error | Exception | null, value: T) => void) => void): Promise<T> {
  return withDeadline(
    new Promise<T>((resolve, reject) => run((error, value) => (error === null ? resolve(value) : reject(error)))),
    nodeOpTimeoutMs,
    `node-zookeeper-client ${what}`,
  );
}

/** node-zookeeper-client connected to one server (optionally resuming a session). */
export async function nodeClient(member: Member, options: { sessionId?: Buffer; sessionPassword?: Buffer; sessionTimeout?: number } = {}): Promise<NodeClient> {
  const client = zk.createClient(member.connectString, { sessionTimeout: options.sessionTimeout ?? 6_000, retries: 0, ...options });
  const connected = new Promise<void>((resolve, reject) => {
    client.once('connected', () => resolve());
    client.once('expired', () => reject(new Error('node-zookeeper-client: session expired')));
  });
  client.connect();
  await withDeadline(connected, 10_000, `node-zookeeper-client to connect to server ${member.sid}`).catch((error: unknown) => {
    client.close();
    throw error;
  });
  const getData = (p: string): Promise<string> => call<Buffer | undefined>(`getData ${p}`, (cb) => client.getData(p, cb)).then((d) => d?.toString('utf8') ?? '');
  const getChildren = (p: string): Promise<string[]> => call<string[]>(`getChildren ${p}`, (cb) => client.getChildren(p, cb));
  return {
    sessionId: client.getSessionId(),
    sessionPassword: client.getSessionPassword(),
    create: (p, data, mode = 0) => call<string>(`create ${p}`, (cb) => client.create(p, Buffer.from(data), openAcl, mode, cb)),
    getData,
    getChildren,
    dump: async (root) => {
      const out: Record<string, string> = {};
      const visit = async (p: string): Promise<void> => {
        out[p] = await getData(p);
        for (const child of (await getChildren(p)).sort()) await visit(`${p}/${child}`);
      };
      await visit(root);
      return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
    },
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------------------
// The Java CLI

const javaDir = '/usr/share/java';
// A narrow class path starts the JVM noticeably faster than '/usr/share/java/*'.
const cliClassPath = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'netty-all.jar', 'commons-cli.jar', 'metrics-core.jar', 'slf4j-nop.jar']
  .map((jar) => path.join(javaDir, jar))
  .join(':');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs ZooKeeperMain against one server with the commands on stdin (one session), then quit. */
export function javaCli(member: Member, commands: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'java',
      ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', cliClassPath, 'org.apache.zookeeper.ZooKeeperMain', '-server', member.connectString],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ZooKeeperMain on server ${member.sid} did not finish within ${timeoutMs} ms\n${Buffer.concat(stdout).toString('utf8')}`));
    }, scaled(timeoutMs));
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${[...commands, 'quit'].join('\n')}\n`);
  });
}
