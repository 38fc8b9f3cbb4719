import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../src/bench/run.js';
import { workloadNames, type WorkloadName } from '../../src/bench/workloads.js';
import { createClient, type WatchedEvent, type ZooKeeperClient } from '../../src/client/index.js';
import { TestingServer } from '../../src/testing/server.js';
import { runZkts } from '../support/cli.js';
import { fourLetterWord, waitFor } from '../support/net.js';

// `zkts bench` against a real standalone zkts server, through both clients: every workload
// answers its n operations, the JSON says so, and a watcher on the server sees the writes
// happen; a run whose server dies is reported as failed. The server is the launcher's; bench
// talks to its own port, past its fault proxy.

const n = 60;

async function received(port: number): Promise<number> {
  return Number(/^Received: (\d+)$/m.exec(await fourLetterWord(port, 'srvr'))?.[1]);
}

interface Run {
  code: number | null;
  result: BenchResult | null;
  stdout: string;
  stderr: string;
}

async function bench(args: string[]): Promise<Run> {
  const { code, out, err } = await runZkts(['bench', ...args], { timeoutMs: 30_000 });
  let result: BenchResult | null = null;
  try {
    result = JSON.parse(out) as BenchResult;
  } catch {
    // Not JSON: the test says what it got.
  }
  return { code, result, stdout: out, stderr: err };
}

/** The events a persistent recursive watch on / saw under one root. */
class Watcher {
  readonly events: WatchedEvent[] = [];

  count(root: string, type: WatchedEvent['type']): number {
    return this.events.filter((e) => e.type === type && e.path.startsWith(`${root}/`)).length;
  }
}

describe('zkts bench', () => {
  let server: TestingServer;
  let client: ZooKeeperClient;
  const watcher = new Watcher();

  beforeAll(async () => {
    server = await TestingServer.start({ logLevel: 'warn' });
    client = createClient(`127.0.0.1:${server.directPort}`);
    await client.connect();
    await client.addWatch('/', 'PERSISTENT_RECURSIVE', (e) => watcher.events.push(e));
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  /** How each workload's operations show on the server. */
  async function expectDone(workload: WorkloadName, r: BenchResult, receivedBefore: number): Promise<void> {
    const events: Record<WorkloadName, Partial<Record<WatchedEvent['type'], number>>> = {
      create: { NodeCreated: n, NodeDeleted: n },
      latency: { NodeCreated: n, NodeDeleted: n },
      set: { NodeDataChanged: n },
      mixed: { NodeDataChanged: n / 10 },
      delete: { NodeCreated: n, NodeDeleted: n },
      get: { NodeDataChanged: 0 },
      exists: { NodeDataChanged: 0 },
    };
    for (const [type, count] of Object.entries(events[workload]) as [WatchedEvent['type'], number][]) {
      await waitFor(`${count} ${type} events under ${r.root}`, () => watcher.count(r.root, type) >= count);
      expect(watcher.count(r.root, type), `${type} under ${r.root}`).toBe(count);
    }
    // Reads leave no events: the server's request counter shows them.
    expect((await received(server.directPort)) - receivedBefore).toBeGreaterThanOrEqual(r.completed);
    // The clean-up deleted the root.
    await waitFor(`${r.root} to be deleted`, () => watcher.events.some((e) => e.type === 'NodeDeleted' && e.path === r.root));
    expect(await client.exists(r.root)).toBeNull();
  }

  // Runs that write are checked by the events they cause and may overlap; runs that only read
  // are checked by the server's request counter, so they run one at a time after the others.
  const readOnly = (w: WorkloadName): boolean => w === 'get' || w === 'exists';
  const cases = (['zkts', 'node-zookeeper-client'] as const).flatMap((clientKind) => workloadNames.map((workload) => ({ clientKind, workload })));
  for (const { clientKind, workload } of [...cases.filter((c) => !readOnly(c.workload)), ...cases.filter((c) => readOnly(c.workload))]) {
    const test = readOnly(workload) ? it : it.concurrent;
    test(`${workload} through ${clientKind}: all ${n} operations answered, reported in JSON, seen by the server`, async () => {
      const receivedBefore = await received(server.directPort);
      const args = [workload, '--json', '--connect', `127.0.0.1:${server.directPort}`, '--n', String(n), '--sessions', '3', '--window', '4', '--client', clientKind];
      const { code, result, stderr } = await bench([...args, '--pids', String(server.info.pid)]);
      expect(code, stderr).toBe(0);
      const r = result!;
      expect(r).toMatchObject({ tool: 'zkts bench', format: 1, workload, client: clientKind, n, size: 128, ok: true, completed: n });
      expect(r.errors).toEqual({ count: 0, byCode: {}, first: null });
      expect(r.cleanup).toEqual({ ok: true, error: null });
      const sequential = workload === 'latency';
      expect([r.sessions, r.window, r.inFlight]).toEqual(sequential ? [1, 1, 1] : [3, 4, 12]);
      expect(r.reads + r.writes).toBe(n);
      expect(r.writes).toBe({ get: 0, exists: 0, mixed: n / 10 }[workload as string] ?? n);
      expect(r.root).toMatch(new RegExp(`^/zkts-bench-${workload}-`));
      expect(r.opsPerSec).toBeCloseTo((n * 1000) / r.elapsedMs, 6);
      const l = r.latencyMs;
      expect(0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max).toBe(true);
      expect(r.servers).toHaveLength(1);
      expect(r.servers[0]!.pid).toBe(server.info.pid);
      expect(r.servers[0]!.rssKiB).toBeGreaterThan(10_000);
      expect(r.servers[0]!.runQueueWaitMs).toEqual(expect.any(Number));
      if (r.writes > 0) expect(r.servers[0]!.writeSyscalls).toBeGreaterThan(0);
      expect(r.machine.cores).toBe(os.cpus().length);
      await expectDone(workload, r, receivedBefore);
    });
  }

  it('prints a readable report without --json', async () => {
    const { code, stderr, stdout } = await bench(['get', '--connect', `127.0.0.1:${server.directPort}`, '--n', '20']);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^zkts bench get: 20 operations through zkts, 8 session\(s\) x 32 in flight \(256 in all\), 128 B, on 127\.0\.0\.1:\d+$/m);
    expect(stdout).toMatch(/^ {2}20 answered in [\d.]+ s: [\d,]+ ops\/s \(20 reads, 0 writes\)$/m);
    expect(stdout).toMatch(/^ {2}latency ms: p50 [\d.]+ {2}p90 [\d.]+ {2}p99 [\d.]+ {2}p99\.9 [\d.]+ {2}max [\d.]+ {2}mean [\d.]+$/m);
    expect(stdout).not.toContain('NOT A RESULT');
  });

  it('--keep leaves the znodes and names the root', async () => {
    const { code, result } = await bench(['create', '--json', '--keep', '--connect', `127.0.0.1:${server.directPort}`, '--n', '5']);
    expect(code).toBe(0);
    expect(result!.cleanup).toBeNull();
    expect((await client.getChildren(result!.root)).sort()).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
  });

  it('refuses bad options with status 2, naming what was wrong', async () => {
    const zero = await bench(['create', '--n', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("--n must be an integer >= 1, not '0'");
    const unknown = await bench(['fly']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown workload 'fly'");
    const client = await bench(['get', '--client', 'kazoo']);
    expect(client.stderr).toContain('--client must be one of zkts, node-zookeeper-client');
  });
});

describe('zkts bench when the server goes away', () => {
  let server: TestingServer | undefined;
  afterAll(async () => {
    await server?.close();
  });

  it('reports the errors, says the run is not a result, and exits with status 1', async () => {
    server = await TestingServer.start({ logLevel: 'warn' });
    const port = server.directPort;
    const runs = (['zkts', 'node-zookeeper-client'] as const).map((clientKind) =>
      bench(['get', '--json', '--connect', `127.0.0.1:${port}`, '--n', '10000000', '--client', clientKind]),
    );
    // Both runs have prepared their 1000 znodes and are well into their reads.
    const watcher = createClient(`127.0.0.1:${port}`);
    try {
      await watcher.connect();
      await waitFor('both runs to have prepared their znodes', async () => {
        const roots = (await watcher.getChildren('/')).filter((name) => name.startsWith('zkts-bench-get-'));
        const counts = await Promise.all(roots.map((root) => watcher.getAllChildrenNumber(`/${root}`)));
        return counts.length === 2 && counts.every((c) => c === 1000);
      }, { timeoutMs: 20_000 });
      const before = await received(port);
      await waitFor('both runs to be reading', async () => (await received(port)) > before + 2000, { timeoutMs: 20_000 });
    } finally {
      await watcher.close();
    }
    await server.kill();
    for (const { code, result } of await Promise.all(runs)) {
      expect(code).toBe(1);
      const r = result!;
      expect(r.ok).toBe(false);
      expect(r.completed).toBeGreaterThan(0);
      expect(r.completed).toBeLessThan(r.n);
      expect(r.errors.count).toBeGreaterThan(0);
      expect(r.errors.byCode.CONNECTIONLOSS, JSON.stringify(r.errors)).toBeGreaterThan(0);
      expect(r.errors.first).toMatch(/^operation \d+: /);
      expect(r.cleanup?.ok).toBe(false);
    }
  });
});
