import { setTimeout as delay } from 'node:timers/promises';
import { createClient, ErrorCode, type ZooKeeperClient } from '../../src/client/index.js';
import type { StateChange } from '../../src/client/types.js';

// A client workload for failover tests: several sessions, each holding an ephemeral node and
// creating numbered persistent nodes one after another; it records which creates were
// acknowledged, when, and every state change of its session.

export const workloadRoot = '/failover';
export const ackedRoot = `${workloadRoot}/acked`;
export const ephemeralsRoot = `${workloadRoot}/ephemerals`;

/** Bounds: a writer stops after this many creates, and paces them so the ensemble is loaded, not flooded. */
const createsPerWriterMax = 20_000;
const paceMs = 20;
const retryPauseMs = 50;

export class Writer {
  readonly name: string;
  readonly client: ZooKeeperClient;
  /** Names (under ackedRoot) of the creates the ensemble acknowledged, in order. */
  readonly acked: string[] = [];
  /** When each acknowledged create was sent and when its acknowledgement came back. */
  readonly sentAt: number[] = [];
  readonly ackedAt: number[] = [];
  readonly states: StateChange[] = [];
  failures = 0;
  sessionId = 0n;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(index: number, connectString: string, sessionTimeoutMs: number) {
    this.name = `w${index}`;
    this.client = createClient(connectString, { sessionTimeout: sessionTimeoutMs, reconnectDelay: { min: 50, max: 500 } });
    this.client.on('state', (change) => this.states.push(change));
  }

  get ephemeralPath(): string {
    return `${ephemeralsRoot}/${this.name}`;
  }

  get expired(): boolean {
    return this.states.some((s) => s.state === 'EXPIRED');
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.sessionId = this.client.sessionId;
    await this.client.create(this.ephemeralPath, this.client.sessionIdHex, { mode: 'EPHEMERAL' });
    this.loop = this.run();
  }

  /** Stops creating; resolves once the create in flight has settled. The session stays open. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** The longest time the session went without a connection, between `from` and `to`. */
  longestDisconnectionMs(from: number, to: number): number {
    let longest = 0;
    let lostAt: number | null = null;
    for (const change of this.states) {
      if (change.state === 'DISCONNECTED' && lostAt === null) lostAt = change.at;
      if (change.state === 'SYNC_CONNECTED' && lostAt !== null) {
        if (change.at >= from && lostAt <= to) longest = Math.max(longest, change.at - Math.max(lostAt, from));
        lostAt = null;
      }
    }
    if (lostAt !== null && lostAt <= to) longest = Math.max(longest, to - Math.max(lostAt, from));
    return longest;
  }

  private async run(): Promise<void> {
    for (let seq = 0; !this.stopped && seq < createsPerWriterMax; seq++) {
      const name = `${this.name}-${String(seq).padStart(6, '0')}`;
      const sentAt = Date.now();
      try {
        await this.client.create(`${ackedRoot}/${name}`, String(seq));
        this.acked.push(name);
        this.sentAt.push(sentAt);
        this.ackedAt.push(Date.now());
        await delay(paceMs);
      } catch (error) {
        // Not acknowledged (it may or may not have been applied): the next create gets a new name.
        this.failures++;
        if ((error as { code?: number }).code === ErrorCode.SESSIONEXPIRED) return;
        await delay(retryPauseMs);
      }
    }
  }
}

export class Workload {
  private constructor(readonly writers: Writer[]) {}

  static async start(connectString: string, options: { writers: number; sessionTimeoutMs: number }): Promise<Workload> {
    const setup = createClient(connectString);
    await setup.connect();
    for (const path of [workloadRoot, ackedRoot, ephemeralsRoot]) await setup.create(path);
    await setup.close();
    const writers = Array.from({ length: options.writers }, (_, i) => new Writer(i + 1, connectString, options.sessionTimeoutMs));
    await Promise.all(writers.map((w) => w.start()));
    return new Workload(writers);
  }

  get ackedCount(): number {
    return this.writers.reduce((n, w) => n + w.acked.length, 0);
  }

  /** When the first create sent after `since` was acknowledged, or null while none has been. */
  firstAckOfCreateSentAfter(since: number): number | null {
    let first: number | null = null;
    for (const w of this.writers) {
      for (let i = w.sentAt.length - 1; i >= 0 && w.sentAt[i]! > since; i--) {
        if (first === null || w.ackedAt[i]! < first) first = w.ackedAt[i]!;
      }
    }
    return first;
  }

  /** The longest stretch between `from` and `to` in which no writer had a create acknowledged. */
  longestWriteGapMs(from: number, to: number): number {
    const times = this.writers.flatMap((w) => w.ackedAt.filter((t) => t >= from && t <= to)).sort((a, b) => a - b);
    let longest = 0;
    let previous = from;
    for (const t of [...times, to]) {
      longest = Math.max(longest, t - previous);
      previous = t;
    }
    return longest;
  }

  longestDisconnectionMs(from: number, to: number): number {
    return Math.max(0, ...this.writers.map((w) => w.longestDisconnectionMs(from, to)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.stop()));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.writers.map((w) => w.stop().then(() => w.client.close())));
  }
}
