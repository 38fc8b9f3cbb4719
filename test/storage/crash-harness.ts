// Helpers for the server-level storage tests: a real `zkts server` process on a temporary
// dataDir that can be SIGKILLed and restarted (started by the one launcher's MemberProcess,
// src/testing), its pino lines as objects, a seeded PRNG, and a model of the znodes a client
// wrote, to compare a recovered tree against.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ZooKeeperClient } from '../../src/client/index.js';
import { MemberProcess, packageRoot, type MemberExit } from '../../src/testing/member-process.js';
import type { LogRecord } from '../../src/testing/member-log.js';
import { reservePort } from '../../src/testing/ports.js';

export const repoRoot = packageRoot;

// ---- waiting, ports, four-letter words -------------------------------------------------

export { freePort, waitFor, fourLetterWord } from '../support/net.js';
import { fourLetterWord } from '../support/net.js';
import { scaled } from '../../src/testing/wait.js';

/** The `Zxid: 0x..` line of `srvr`. */
export async function srvrZxid(port: number): Promise<bigint> {
  const text = await fourLetterWord(port, 'srvr');
  const match = /^Zxid: (0x[0-9a-f]+)$/m.exec(text);
  if (match === null) throw new Error(`srvr answer without a Zxid line:\n${text}`);
  return BigInt(match[1]!);
}

// ---- a server process ------------------------------------------------------------------

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ServerDirOptions {
  snapCount?: number;
  tickTime?: number;
  /** Extra zoo.cfg lines. */
  config?: Record<string, string | number>;
}

/** A temporary directory holding zoo.cfg and dataDir; `remove()` deletes it and gives the port back. */
export interface ServerDir {
  root: string;
  dataDir: string;
  configPath: string;
  port: number;
  remove(): void;
}

export async function makeServerDir(options: ServerDirOptions = {}): Promise<ServerDir> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'zkts-crash-'));
  const dataDir = path.join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  // Reserved for as long as the directory lives, across every restart (src/testing/ports.ts).
  const reservation = await reservePort();
  const port = reservation.port;
  const cfg: Record<string, string | number> = {
    tickTime: options.tickTime ?? 500,
    dataDir,
    clientPort: port,
    clientPortAddress: '127.0.0.1',
    '4lw.commands.whitelist': '*',
    snapCount: options.snapCount ?? 100_000,
    ...options.config,
  };
  const configPath = path.join(root, 'zoo.cfg');
  writeFileSync(configPath, Object.entries(cfg).map(([key, value]) => `${key}=${value}`).join('\n') + '\n');
  return {
    root,
    dataDir,
    configPath,
    port,
    remove: () => {
      reservation.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Long enough for any recovery these tests make; each test waits on its own deadline. */
const startReportTimeoutMs = 600_000;

/**
 * One run of `zkts server <zoo.cfg>`. stdout is pino JSON: every line is kept and offered to
 * `waitForLog`; stderr is kept as text.
 */
export class ServerProcess {
  readonly lines: LogLine[] = [];
  readonly startedAt = performance.now();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly member: MemberProcess;
  private readonly listeners = new Set<(line: LogLine) => void>();
  private exitState: MemberExit | undefined;

  private constructor(configPath: string, env: NodeJS.ProcessEnv) {
    this.member = new MemberProcess({ name: 'server', configPath, logFile: null, env: env as Record<string, string>, seed: 0 });
    this.member.log.onRecord((record: LogRecord) => {
      const line = { level: 0, msg: '', ...record } as LogLine;
      this.lines.push(line);
      for (const listener of [...this.listeners]) listener(line);
    });
    this.exited = new Promise((resolve) => {
      this.member.once('exit', (exit) => {
        this.exitState = exit;
        resolve({ code: exit.code, signal: exit.signal });
      });
    });
    // Spawned before start() first waits; a server that fails to start shows in `exited`.
    void this.member.start(startReportTimeoutMs).catch(() => undefined);
  }

  static spawn(configPath: string, env: NodeJS.ProcessEnv = {}): ServerProcess {
    return new ServerProcess(configPath, env);
  }

  get pid(): number {
    return this.member.pid!;
  }

  get hasExited(): boolean {
    return this.exitState !== undefined;
  }

  get stderr(): string {
    return this.member.log.stderr;
  }

  /** Resolves with the first line (already seen or still to come) that `test` accepts. */
  waitForLog(test: (line: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for log '${what}'\n${this.describe()}`)), scaled(timeoutMs));
      const listener = (line: LogLine) => {
        if (test(line)) finish(undefined, line);
      };
      const onExit = () => finish(new Error(`server exited while waiting for log '${what}'\n${this.describe()}`));
      const finish = (error: Error | undefined, line?: LogLine) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        this.member.off('exit', onExit);
        if (error !== undefined) reject(error);
        else resolve(line!);
      };
      this.listeners.add(listener);
      this.member.once('exit', onExit);
    });
  }

  /** Calls `listener` for each line from now on; returns a function that stops it. */
  onLog(listener: (line: LogLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for 'serving clients'; returns the ms from spawn to then. */
  async serving(timeoutMs = 20_000): Promise<number> {
    await this.waitForLog((line) => line.msg === 'serving clients', 'serving clients', timeoutMs);
    return performance.now() - this.startedAt;
  }

  /** SIGKILL, then wait for the exit. */
  async kill(): Promise<void> {
    if (!this.hasExited) await this.member.kill();
    await this.exited;
  }

  logs(message: string): LogLine[] {
    return this.lines.filter((line) => line.msg === message);
  }

  describe(): string {
    const tail = this.lines.slice(-15).map((line) => JSON.stringify(line));
    return `--- server stdout (last lines) ---\n${tail.join('\n')}\n--- server stderr ---\n${this.stderr.slice(-4000)}`;
  }
}

// ---- seeded randomness -----------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/** The seed from ZKTS_CRASH_SEED, or a fresh one. */
export function seedFromEnv(name = 'ZKTS_CRASH_SEED'): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') return Number(raw) >>> 0;
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

// ---- the model of what the client wrote ------------------------------------------------

export interface NodeState {
  data: Buffer;
  version: number;
}

/** Path → data and version, for the znodes under one parent. */
export type TreeModel = Map<string, NodeState>;

export type WriteOp =
  | { kind: 'create'; path: string; data: Buffer }
  | { kind: 'setData'; path: string; data: Buffer }
  | { kind: 'delete'; path: string };

/** Applies `op` as the server would; throws when the server would have refused it. */
export function applyOp(model: TreeModel, op: WriteOp): void {
  const node = model.get(op.path);
  switch (op.kind) {
    case 'create':
      if (node !== undefined) throw new Error(`model: create ${op.path} which exists`);
      model.set(op.path, { data: op.data, version: 0 });
      return;
    case 'setData':
      if (node === undefined) throw new Error(`model: setData ${op.path} which does not exist`);
      model.set(op.path, { data: op.data, version: node.version + 1 });
      return;
    case 'delete':
      if (node === undefined) throw new Error(`model: delete ${op.path} which does not exist`);
      model.delete(op.path);
      return;
  }
}

/** Every child of `parent` with its data and version, reads pipelined. */
export async function readTree(client: ZooKeeperClient, parent: string): Promise<TreeModel> {
  const children = await client.getChildren(parent);
  const results = await Promise.all(children.map((child) => client.getData(`${parent}/${child}`)));
  const tree: TreeModel = new Map();
  children.forEach((child, i) => {
    const { data, stat } = results[i]!;
    tree.set(`${parent}/${child}`, { data: Buffer.from(data ?? Buffer.alloc(0)), version: stat.version });
  });
  return tree;
}

function sameNode(a: NodeState | undefined, b: NodeState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.version === b.version && a.data.equals(b.data);
}

function describeNode(node: NodeState | undefined): string {
  return node === undefined ? 'absent' : `version ${node.version}, ${node.data.length} bytes ${node.data.subarray(0, 24).toString('latin1')}...`;
}

/**
 * Checks that `actual` is the acknowledged state `acked` with some prefix of the writes in
 * flight at the crash applied on top (one session's writes take zxids in the order they
 * were sent, and the log recovers a prefix of zxids). Returns how many in-flight writes the
 * recovered tree holds; throws naming the first difference otherwise.
 */
export function matchRecovered(acked: TreeModel, inFlight: readonly WriteOp[], actual: TreeModel): number {
  const touched = new Set(inFlight.map((op) => op.path));
  for (const [nodePath, node] of acked) {
    if (touched.has(nodePath)) continue;
    if (!sameNode(node, actual.get(nodePath))) {
      throw new Error(`${nodePath}: acknowledged ${describeNode(node)}, recovered ${describeNode(actual.get(nodePath))}`);
    }
  }
  for (const [nodePath, node] of actual) {
    if (!touched.has(nodePath) && !acked.has(nodePath)) throw new Error(`${nodePath}: never acknowledged nor in flight, recovered ${describeNode(node)}`);
  }
  const state: TreeModel = new Map([...touched].flatMap((p) => (acked.has(p) ? [[p, acked.get(p)!] as const] : [])));
  const mismatches: string[] = [];
  for (let applied = 0; applied <= inFlight.length; applied++) {
    if (applied > 0) applyOp(state, inFlight[applied - 1]!);
    const differing = [...touched].find((p) => !sameNode(state.get(p), actual.get(p)));
    if (differing === undefined) return applied;
    if (mismatches.length < 3 || applied === inFlight.length) {
      mismatches.push(`with ${applied} of ${inFlight.length} in-flight writes, ${differing} would be ${describeNode(state.get(differing))}, recovered ${describeNode(actual.get(differing))}`);
    }
  }
  throw new Error(`the recovered tree is no prefix of the writes sent:\n${mismatches.join('\n')}`);
}
