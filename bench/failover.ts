// Failover time of a three-member ensemble of real `zkts server` processes on loopback.
//
// A writer sets one znode over and over through the two followers (its connect string holds
// only them). Each round kills the leader with SIGKILL and measures the time from the kill to
// the first write that was sent after the kill and succeeded: election, the new leader's
// synchronisation with its follower, the client's reconnect and one commit. Between rounds the
// killed member is restarted and the ensemble allowed to settle.
//
//   npm run bench:failover                     5 rounds, tickTime 100 ms
//   npm run bench:failover -- --rounds 10 --tick-time 200
import { parseArgs } from 'node:util';
import { createClient, type ZooKeeperClient } from '../src/client/index.js';
import { TestingCluster } from '../src/testing/index.js';
import { waitFor } from '../src/testing/wait.js';

/** How long one round may take to see a successful write after the kill before it is abandoned. */
const roundTimeoutMs = 60_000;
/** Pause between two failed write attempts, so a disconnected client does not spin. */
const retryPauseMs = 5;

interface Round {
  killed: number;
  newLeader: number;
  /** Kill → first write sent after the kill that succeeded. */
  failoverMs: number;
  /** Writes that failed between the kill and the first success (CONNECTIONLOSS and the like). */
  failedAttempts: number;
}

function options(): { rounds: number; tickTime: number; initLimit: number; syncLimit: number } {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      'tick-time': { type: 'string', default: '100' },
      'init-limit': { type: 'string', default: '10' },
      'sync-limit': { type: 'string', default: '5' },
    },
  });
  const int = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
    return n;
  };
  return {
    rounds: int('rounds', values.rounds),
    tickTime: int('tick-time', values['tick-time']),
    initLimit: int('init-limit', values['init-limit']),
    syncLimit: int('sync-limit', values['sync-limit']),
  };
}

/** Writes continuously; reports every success with the time it was sent and completed. */
class Writer {
  private stopped = false;
  private seq = 0;
  readonly successes: { sentAt: number; doneAt: number }[] = [];
  failures = 0;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly client: ZooKeeperClient) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const sentAt = performance.now();
      try {
        await this.client.setData('/failover-bench', String(this.seq++));
        this.successes.push({ sentAt, doneAt: performance.now() });
      } catch {
        this.failures++;
        await new Promise((resolve) => setTimeout(resolve, retryPauseMs));
      }
    }
  }

  /** The first write sent at or after `t` that succeeded. */
  async firstSuccessAfter(t: number): Promise<{ sentAt: number; doneAt: number }> {
    return waitFor('a write after the kill', () => this.successes.find((s) => s.sentAt >= t), { timeoutMs: roundTimeoutMs, intervalMs: 2 });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

async function round(cluster: TestingCluster): Promise<Round> {
  const leader = await cluster.waitForLeader();
  // A fresh session through this round's followers only (their own ports): the writer never talks to the leader.
  const followers = cluster.servers.filter((s) => s.id !== leader);
  const client = createClient(followers.map((s) => s.directConnectString).join(','), { sessionTimeout: 10_000, reconnectDelay: { min: 5, max: 50 }, connectTimeout: 20_000 });
  const writer = new Writer(client);
  try {
    await client.connect();
    await client.create('/failover-bench', '0').catch(() => undefined);
    writer.start();
    await writer.firstSuccessAfter(performance.now());
    const failuresBefore = writer.failures;
    const killedAt = performance.now();
    await cluster.kill(leader);
    const first = await writer.firstSuccessAfter(killedAt);
    const newLeader = await cluster.waitForLeader({ not: [leader] });
    return { killed: leader, newLeader, failoverMs: first.doneAt - killedAt, failedAttempts: writer.failures - failuresBefore };
  } finally {
    await writer.stop();
    await client.close().catch(() => undefined);
    await cluster.start(leader);
    await cluster.assertConverged({ timeoutMs: 20_000 }).catch(() => undefined);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const opts = options();
  process.stdout.write(
    `failover bench: 3 zkts members, tickTime ${opts.tickTime} ms, initLimit ${opts.initLimit}, syncLimit ${opts.syncLimit}, ${opts.rounds} rounds\n`,
  );
  const cluster = await TestingCluster.start({ size: 3, tickTime: opts.tickTime, initLimit: opts.initLimit, syncLimit: opts.syncLimit });
  const rounds: Round[] = [];
  try {
    for (let i = 1; i <= opts.rounds; i++) {
      const r = await round(cluster);
      rounds.push(r);
      process.stdout.write(
        `round ${i}: killed leader ${r.killed}, new leader ${r.newLeader}: first write after the kill succeeded in ${r.failoverMs.toFixed(0)} ms (${r.failedAttempts} failed attempts)\n`,
      );
    }
  } catch (error) {
    process.stderr.write(`bench failed: ${(error as Error).message}\n${cluster.logTails(30)}\n`);
    process.exitCode = 1;
  } finally {
    await cluster.close();
  }
  if (rounds.length > 0) {
    const ms = rounds.map((r) => r.failoverMs);
    process.stdout.write(
      `failover (kill -9 of the leader → first successful write), ${ms.length} rounds: min ${Math.min(...ms).toFixed(0)} ms, median ${median(ms).toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms\n`,
    );
  }
}

await main();
