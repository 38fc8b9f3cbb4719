// A real standalone server is SIGKILLed at random moments while one client streams creates,
// setData and deletes at it (several in flight); some kills land while a snapshot is being
// written, some just after one. After every restart on the same dataDir the tree must be
// exactly the acknowledged writes plus some prefix of the writes in flight at the kill, and
// srvr's zxid must not go back. The seed is printed; ZKTS_CRASH_SEED=<seed> replays the
// kill schedule and the choice of writes (the machine's timing still varies).
import { readdirSync } from 'node:fs';
import { watch, type FSWatcher } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, ErrorCode, type ZooKeeperClient } from '../../src/client/index.js';
import {
  applyOp,
  makeServerDir,
  matchRecovered,
  Random,
  readTree,
  seedFromEnv,
  ServerProcess,
  srvrZxid,
  type ServerDir,
  type TreeModel,
  type WriteOp,
} from './crash-harness.js';
import { scaled } from '../../src/testing/wait.js';

const killsTotal = 24;
const parent = '/crash';
/** Writes sent but not yet answered, at most. */
const writesInFlightMax = 16;
/** Below this many znodes the writer favours creates, above it deletes. */
const nodesTarget = 1200;
const dataBytesMin = 256;
const dataBytesMax = 4096;
/** Small, so that (with a randomised threshold of 100..200 txns) snapshots come often. */
const snapCount = 200;
/** A kill waiting for a snapshot gives up waiting after this long and kills anyway. */
const snapshotWaitMsMax = 4000;
/** About 35 s in a full run on an idle 2-core machine, over 70 s with that machine loaded: room for a slower one. */
const testDeadlineMs = 170_000;

type KillKind = 'random' | 'duringSnapshot' | 'afterSnapshot';

interface KillPlan {
  kind: KillKind;
  /** random: ms of writing before the kill; snapshot kinds: ms after the trigger. */
  delayMs: number;
}

function planKills(random: Random): KillPlan[] {
  const kinds: KillKind[] = ['random', 'duringSnapshot', 'afterSnapshot'];
  return Array.from({ length: killsTotal }, (_, i) => {
    const kind = kinds[i % kinds.length]!;
    const delayMs = kind === 'random' ? random.int(50, 700) : kind === 'duringSnapshot' ? random.int(0, 8) : random.int(0, 3);
    return { kind, delayMs };
  });
}

interface Sent {
  op: WriteOp;
  outcome: 'pending' | 'acked' | 'lost';
}

/**
 * One client's stream of writes in one life of the server. `submitted` is the model after
 * every write sent, used to choose writes that the server will accept; `acked` after every
 * write answered. One session's writes are answered in the order they were sent.
 */
class Writer {
  readonly sent: Sent[] = [];
  highestAckedZxid = 0n;
  private ackedCount = 0;
  private stopped = false;
  private failure: Error | undefined;
  private readonly drained: Promise<void>;
  private wake: (() => void) | undefined;
  private readonly client: ZooKeeperClient;
  private readonly random: Random;
  private readonly life: number;
  private readonly submitted: TreeModel;
  private readonly acked: TreeModel;

  constructor(client: ZooKeeperClient, random: Random, life: number, submitted: TreeModel, acked: TreeModel) {
    this.client = client;
    this.random = random;
    this.life = life;
    this.submitted = submitted;
    this.acked = acked;
    this.drained = this.run();
  }

  /** Stops sending new writes (those in flight stay in flight). */
  halt(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Resolves once every write sent is answered or lost. */
  async drain(): Promise<void> {
    this.halt();
    await this.drained;
    if (this.failure !== undefined) throw this.failure;
  }

  get inFlight(): WriteOp[] {
    return this.sent.filter((s) => s.outcome !== 'acked').map((s) => s.op);
  }

  get ackedWrites(): number {
    return this.ackedCount;
  }

  private async run(): Promise<void> {
    let seq = 0;
    const pending = new Set<Promise<void>>();
    while (!this.stopped && this.failure === undefined) {
      if (pending.size >= writesInFlightMax) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          void Promise.race(pending).then(resolve);
        });
        continue;
      }
      const op = this.chooseOp(seq++);
      applyOp(this.submitted, op);
      const entry: Sent = { op, outcome: 'pending' };
      this.sent.push(entry);
      const settled = this.send(entry).finally(() => pending.delete(settled));
      pending.add(settled);
      // Let replies and the kill timers run between sends.
      if (seq % 4 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(pending);
  }

  private async send(entry: Sent): Promise<void> {
    try {
      const zxid = await this.perform(entry.op);
      if (this.sent[this.ackedCount] !== entry) throw new Error(`write answered out of order: ${entry.op.kind} ${entry.op.path}`);
      entry.outcome = 'acked';
      this.ackedCount++;
      applyOp(this.acked, entry.op);
      if (zxid > this.highestAckedZxid) this.highestAckedZxid = zxid;
    } catch (error) {
      const code = (error as { code?: number }).code;
      // Only the kill, which comes after halt(), may cut the connection.
      if (this.stopped && code === ErrorCode.CONNECTIONLOSS) {
        entry.outcome = 'lost';
        return;
      }
      this.failure ??= new Error(`${entry.op.kind} ${entry.op.path} failed unexpectedly: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Sends the write; resolves with the zxid the reply carries (0 for a delete). */
  private async perform(op: WriteOp): Promise<bigint> {
    switch (op.kind) {
      case 'create': {
        const result = await this.client.create(op.path, op.data);
        if (result.path !== op.path) throw new Error(`create ${op.path} answered ${result.path}`);
        return result.stat.czxid;
      }
      case 'setData': {
        const expected = this.versionAfter(op);
        const stat = await this.client.setData(op.path, op.data);
        if (stat.version !== expected) throw new Error(`setData ${op.path} answered version ${stat.version}, expected ${expected}`);
        return stat.mzxid;
      }
      case 'delete':
        await this.client.delete(op.path);
        return 0n;
    }
  }

  /** The version a setData must answer with: what the writes before it leave, plus one. */
  private versionAfter(op: WriteOp): number {
    const model: TreeModel = new Map(this.acked.has(op.path) ? [[op.path, this.acked.get(op.path)!]] : []);
    for (let i = this.ackedCount; i < this.sent.length; i++) {
      const earlier = this.sent[i]!.op;
      if (earlier === op) break;
      if (earlier.path === op.path) applyOp(model, earlier);
    }
    return model.get(op.path)!.version + 1;
  }

  private chooseOp(seq: number): WriteOp {
    const paths = [...this.submitted.keys()];
    const roll = this.random.next();
    const createShare = paths.length < nodesTarget ? 0.45 : 0.25;
    const deleteShare = paths.length < nodesTarget ? 0.1 : 0.3;
    if (paths.length === 0 || roll < createShare) {
      return { kind: 'create', path: `${parent}/l${this.life}-${seq}`, data: this.data(seq) };
    }
    const path = this.random.pick(paths);
    if (roll < createShare + deleteShare) return { kind: 'delete', path };
    return { kind: 'setData', path, data: this.data(seq) };
  }

  /** A recognisable header, then half random bytes and half a repeated pattern (so deflate has work). */
  private data(seq: number): Buffer {
    const bytes = Buffer.alloc(this.random.int(dataBytesMin, dataBytesMax));
    const half = bytes.length >> 1;
    for (let i = 0; i < half; i += 4) bytes.writeUInt32LE(Math.floor(this.random.next() * 2 ** 32), Math.min(i, bytes.length - 4));
    for (let i = half; i < bytes.length; i++) bytes[i] = (i * 7 + seq) & 0xff;
    bytes.write(`life ${this.life} write ${seq} `, 0, 'latin1');
    return bytes;
  }
}

let dir: ServerDir | undefined;
let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.kill();
  dir?.remove();
  server = undefined;
  dir = undefined;
});

async function connect(port: number): Promise<ZooKeeperClient> {
  const client = createClient(`127.0.0.1:${port}`, { sessionTimeout: 10_000, connectTimeout: 10_000, closeTimeout: 200, reconnectDelay: { min: 20, max: 100 } });
  await client.connect();
  return client;
}

/** Resolves `delayMs` after the kill's trigger: a timer, a snapshot's temp file appearing, or 'snapshot written'. */
function killTrigger(plan: KillPlan, proc: ServerProcess, dataDir: string): { fired: Promise<string>; cancel: () => void } {
  const cleanups: (() => void)[] = [];
  const fired = new Promise<string>((resolve) => {
    const fire = (why: string) => {
      const timer = setTimeout(() => resolve(why), plan.delayMs);
      cleanups.push(() => clearTimeout(timer));
    };
    if (plan.kind === 'random') return fire('timer');
    const fallback = setTimeout(() => resolve('no snapshot came'), snapshotWaitMsMax);
    cleanups.push(() => clearTimeout(fallback));
    if (plan.kind === 'afterSnapshot') {
      let done = false;
      cleanups.push(
        proc.onLog((line) => {
          if (done || line.msg !== 'snapshot written') return;
          done = true;
          fire('snapshot written');
        }),
      );
      return;
    }
    let watcher: FSWatcher | undefined = watch(dataDir, (_event, name) => {
      if (watcher === undefined || typeof name !== 'string' || !/^snapshot\.[0-9a-f]+\.tmp$/.test(name)) return;
      watcher.close();
      watcher = undefined;
      fire('snapshot temp file');
    });
    cleanups.push(() => watcher?.close());
  });
  return { fired, cancel: () => cleanups.forEach((cleanup) => cleanup()) };
}

describe('standalone server killed with SIGKILL', () => {
  it(`keeps every acknowledged write across ${killsTotal} kills, some during snapshots`, { timeout: scaled(testDeadlineMs + 10_000) }, async () => {
    const seed = seedFromEnv();
    console.log(`crash test seed ${seed} (ZKTS_CRASH_SEED=${seed} replays it)`);
    const testStarted = Date.now();
    const plans = planKills(new Random(seed));
    const opsRandom = new Random(seed ^ 0x5bd1e995);
    dir = await makeServerDir({ snapCount });
    const port = dir.port;

    let acked: TreeModel = new Map();
    let inFlight: WriteOp[] = [];
    let zxidFloor = 0n;
    const tally = { killsDuringSnapshot: 0, killsAfterSnapshot: 0, inFlightRecovered: 0, inFlightLost: 0, acked: 0, snapshots: 0, replayedMax: 0 };

    for (let life = 0; life <= killsTotal; life++) {
      const context = `seed ${seed}, life ${life}`;
      const proc = ServerProcess.spawn(dir.configPath);
      server = proc;
      await proc.serving();
      const recovered = proc.logs('state recovered')[0];
      tally.replayedMax = Math.max(tally.replayedMax, Number(recovered?.['replayed'] ?? 0));

      const zxid = await srvrZxid(port);
      expect(zxid >= zxidFloor, `${context}: srvr zxid 0x${zxid.toString(16)} went back from 0x${zxidFloor.toString(16)}`).toBe(true);
      zxidFloor = zxid;

      const client = await connect(port);
      if (life === 0) await client.create(parent, 'crash test');
      const actual = await readTree(client, parent);
      let applied: number;
      try {
        applied = matchRecovered(acked, inFlight, actual);
      } catch (error) {
        throw new Error(`${context}: ${(error as Error).message}\n${proc.describe()}`);
      }
      tally.inFlightRecovered += applied;
      tally.inFlightLost += inFlight.length - applied;
      acked = actual;
      if (life === killsTotal) {
        await client.close();
        break;
      }

      const plan = plans[life]!;
      const trigger = killTrigger(plan, proc, dir.dataDir);
      const writer = new Writer(client, opsRandom, life, new Map(acked), acked);
      const midLifeZxid = srvrZxid(port).catch(() => 0n);
      const why = await trigger.fired;
      trigger.cancel();
      writer.halt();
      await proc.kill();
      const interruptedSnapshot = readdirSync(dir.dataDir).some((name) => name.endsWith('.tmp'));
      await writer.drain();
      await client.close().catch(() => undefined);

      if (interruptedSnapshot) tally.killsDuringSnapshot++;
      if (why === 'snapshot written') tally.killsAfterSnapshot++;
      // The snapshot store and the server's snapshotter both log 'snapshot written'.
      tally.snapshots += proc.logs('snapshot written').filter((line) => line['component'] === 'snapshots').length;
      tally.acked += writer.ackedWrites;
      inFlight = writer.inFlight;
      for (const floor of [writer.highestAckedZxid, await midLifeZxid]) if (floor > zxidFloor) zxidFloor = floor;
      expect(Date.now() - testStarted, `${context}: over the test's time budget`).toBeLessThan(scaled(testDeadlineMs));
    }

    console.log(`crash test seed ${seed}: ${JSON.stringify(tally)}, ${acked.size} znodes at the end, ${Date.now() - testStarted} ms`);
    expect(tally.acked).toBeGreaterThan(killsTotal * 20);
    expect(tally.snapshots, 'snapshots written').toBeGreaterThanOrEqual(5);
    expect(tally.killsDuringSnapshot, 'kills that interrupted a snapshot').toBeGreaterThanOrEqual(3);
    expect(tally.killsAfterSnapshot, 'kills just after a snapshot').toBeGreaterThanOrEqual(3);
  });
});
