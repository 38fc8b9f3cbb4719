// The clients `zkts bench` drives: zkts's own, or node-zookeeper-client 1.1.3 (npm, pure
// JavaScript, written by neither server's authors: figures that compare zkts with ZooKeeper
// go through it). Each bench session is one client with one session on one server.
import { createClient } from '../client/index.js';
import { errorName } from '../protocol/constants.js';

export const clientKinds = ['zkts', 'node-zookeeper-client'] as const;
export type ClientKind = (typeof clientKinds)[number];

/** Requested session timeout: long enough that a loaded machine does not expire a bench session. */
const sessionTimeoutMs = 30_000;

/** One session on one server; each operation settles when the server has answered it. */
export interface BenchSession {
  create(path: string, data: Buffer): Promise<void>;
  setData(path: string, data: Buffer): Promise<void>;
  getData(path: string): Promise<void>;
  exists(path: string): Promise<void>;
  delete(path: string): Promise<void>;
  children(path: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens a session on `hostPort` ("host:port"); rejects when none is established within `timeoutMs`. */
export function openSession(kind: ClientKind, hostPort: string, timeoutMs: number): Promise<BenchSession> {
  return kind === 'zkts' ? openZkts(hostPort, timeoutMs) : openNodeZookeeperClient(hostPort, timeoutMs);
}

/** A short name for what went wrong: the ZooKeeper code's name when there is one. */
export function errorLabel(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return errorName(code);
  return error instanceof Error ? error.message : String(error);
}

async function openZkts(hostPort: string, timeoutMs: number): Promise<BenchSession> {
  const client = createClient(hostPort, { sessionTimeout: sessionTimeoutMs, connectTimeout: timeoutMs });
  await client.connect();
  return {
    create: async (path, data) => void (await client.create(path, data)),
    setData: async (path, data) => void (await client.setData(path, data)),
    getData: async (path) => void (await client.getData(path)),
    exists: async (path) => void (await client.exists(path)),
    delete: (path) => client.delete(path),
    children: (path) => client.getChildren(path),
    close: () => client.close(),
  };
}

// node-zookeeper-client ships no types; these are the calls used here.
type Callback<T = unknown> = (error: Error | null, result?: T) => void;
interface NzcClient {
  connect(): void;
  close(): void;
  once(event: string, listener: () => void): void;
  create(path: string, data: Buffer, acls: unknown[], mode: number, cb: Callback): void;
  setData(path: string, data: Buffer, version: number, cb: Callback): void;
  getData(path: string, cb: Callback): void;
  exists(path: string, cb: Callback): void;
  remove(path: string, version: number, cb: Callback): void;
  getChildren(path: string, cb: Callback<string[]>): void;
}
interface NzcModule {
  createClient(connectString: string, options: Record<string, unknown>): NzcClient;
  ACL: { OPEN_ACL_UNSAFE: unknown[] };
  CreateMode: { PERSISTENT: number };
}

const nzcPackage = 'node-zookeeper-client';

async function loadNodeZookeeperClient(): Promise<NzcModule> {
  try {
    // A name in a variable: the package is a devDependency and has no type declarations.
    const loaded = (await import(nzcPackage)) as { default?: NzcModule } & NzcModule;
    return loaded.default ?? loaded;
  } catch (cause) {
    throw new Error(`--client ${nzcPackage} needs the npm package ${nzcPackage} (a devDependency of zkts): npm install`, { cause });
  }
}

async function openNodeZookeeperClient(hostPort: string, timeoutMs: number): Promise<BenchSession> {
  const zookeeper = await loadNodeZookeeperClient();
  const client = zookeeper.createClient(hostPort, { sessionTimeout: sessionTimeoutMs, spinDelay: 100, retries: 0 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`node-zookeeper-client: no session on ${hostPort} within ${timeoutMs} ms`));
    }, timeoutMs);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  const call = (start: (cb: Callback) => void): Promise<void> =>
    new Promise((resolve, reject) => start((error) => (error === null || error === undefined ? resolve() : reject(error))));
  const acl = zookeeper.ACL.OPEN_ACL_UNSAFE;
  const persistent = zookeeper.CreateMode.PERSISTENT;
  return {
    create: (path, data) => call((cb) => client.create(path, data, acl, persistent, cb)),
    setData: (path, data) => call((cb) => client.setData(path, data, -1, cb)),
    getData: (path) => call((cb) => client.getData(path, cb)),
    exists: (path) => call((cb) => client.exists(path, cb)),
    delete: (path) => call((cb) => client.remove(path, -1, cb)),
    children: (path) =>
      new Promise((resolve, reject) => client.getChildren(path, (error, names) => (error ? reject(error) : resolve(names ?? [])))),
    // close() sends closeSession and does not report its answer; 'disconnected' follows it.
    close: () =>
      new Promise<void>((resolve) => {
        client.once('disconnected', resolve);
        client.close();
      }),
  };
}
