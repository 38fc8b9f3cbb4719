// LoopWork: deferrable work shares one allowance per turn of the event loop, so that I/O
// (a read from an interactive client) is handled between turns, not after all of the work.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { LoopWork, type SlicedWork } from '../src/loop-work.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Numbers the turns of a LoopWork: a turn is one callback, after which nextTicks run. */
class TurnClock {
  turn = 0;
  private inTurn = false;
  mark(): void {
    if (this.inTurn) return;
    this.inTurn = true;
    this.turn++;
    process.nextTick(() => {
      this.inTurn = false;
    });
  }
}

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a unit of work
  }
}

/** Work that needs `units` units of `unitMs` each and records which turn ran each unit. */
class Greedy implements SlicedWork {
  readonly turns: number[] = [];
  constructor(
    private readonly name: string,
    private units: number,
    private readonly unitMs: number,
    private readonly log: string[],
    private readonly clock: TurnClock,
  ) {}
  runSlice(deadline: number): boolean {
    this.clock.mark();
    this.log.push(`${this.name}@${this.clock.turn}`);
    do {
      busy(this.unitMs);
      this.units--;
      this.turns.push(this.clock.turn);
    } while (this.units > 0 && performance.now() < deadline);
    return this.units > 0;
  }
  get left(): number {
    return this.units;
  }
}

/** Lets the loop run until the tasks have no units left (20 s at most) and checks they did. */
async function runOut(...tasks: Greedy[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (tasks.some((t) => t.left > 0) && Date.now() < deadline) await nextTurn();
  for (const t of tasks) expect(t.left).toBe(0);
}

/** A LoopWork with a log and a turn clock for the Greedy tasks made through it. */
function setup(turnMs: number): { work: LoopWork; log: string[]; clock: TurnClock; greedy: (name: string, units: number, unitMs: number) => Greedy } {
  const work = new LoopWork(turnMs);
  const log: string[] = [];
  const clock = new TurnClock();
  return { work, log, clock, greedy: (name, units, unitMs) => new Greedy(name, units, unitMs, log, clock) };
}

describe('LoopWork', () => {
  it('runs each waiting task at most once a turn, in order, and a task with work left again later', async () => {
    const { work, log, greedy } = setup(50);
    const a = greedy('a', 3, 0);
    const b = greedy('b', 1, 0);
    // Scheduled twice, a runs once (its 3 instant units in one slice).
    work.schedule(a);
    work.schedule(a);
    work.schedule(b);
    expect(work.isScheduled(a)).toBe(true);
    expect(work.pending).toBe(2);
    await nextTurn();
    expect(log).toEqual(['a@1', 'b@1']);
    expect(a.left).toBe(0);
    expect(work.pending).toBe(0);
  });

  it('stops a turn once its allowance is spent and goes on after the loop has polled', async () => {
    const turnMs = 2;
    const { work, greedy } = setup(turnMs);
    // Two tasks of 40 units of 0.5 ms: 40 ms of work in all, ~2 ms a turn.
    const a = greedy('a', 40, 0.5);
    const b = greedy('b', 40, 0.5);
    work.schedule(a);
    work.schedule(b);
    // A timer due at once fires in the loop's next timers phase: between turns.
    let unitsDoneWhenTimerFired = -1;
    setTimeout(() => {
      unitsDoneWhenTimerFired = 80 - a.left - b.left;
    }, 0);
    await runOut(a, b);
    expect(unitsDoneWhenTimerFired).toBeGreaterThanOrEqual(0);
    expect(unitsDoneWhenTimerFired).toBeLessThan(20);
    // No turn ran more than the allowance's worth of units (plus the one that overran it).
    const perTurn = new Map<number, number>();
    for (const t of [...a.turns, ...b.turns]) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(turnMs / 0.5 + 1);
    // Turns alternate which task goes first: neither waits for the other to finish.
    expect(a.turns.at(-1)! - b.turns.at(-1)!).toBeLessThanOrEqual(2);
    expect(b.turns.at(-1)! - a.turns.at(-1)!).toBeLessThanOrEqual(2);
  });

  it('runs work that runs first at the head of every turn it waits for; the others keep their order behind it', async () => {
    const { work, log, greedy } = setup(2);
    // Each needs several turns: 3 ms in units of 0.5 ms, 2 ms a turn.
    const a = greedy('a', 6, 0.5);
    const b = greedy('b', 6, 0.5);
    const first = Object.assign(greedy('first', 6, 0.5), { runsFirst: true });
    work.schedule(a);
    work.schedule(b);
    work.schedule(first);
    await runOut(a, b, first);
    const turnsOf = (name: string) => log.filter((l) => l.startsWith(`${name}@`)).map((l) => Number(l.split('@')[1]));
    const firstTurns = turnsOf('first');
    // It ran first in each turn it waited for, and so finished within its own work's turns.
    for (const t of firstTurns) expect(log.find((l) => l.endsWith(`@${t}`))).toBe(`first@${t}`);
    expect(firstTurns).toEqual(firstTurns.map((_, i) => firstTurns[0]! + i));
    // a was scheduled before b and still goes before it.
    expect(turnsOf('a')[0]!).toBeLessThanOrEqual(turnsOf('b')[0]!);
  });

  it('lets a read from a socket in between: its data is handled long before the work is done', async () => {
    const { work, greedy } = setup(1);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const heard = new Promise<number>((resolve) => {
      server.on('connection', (socket) => socket.once('data', () => resolve(400 - task.left)));
    });
    const client = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', resolve));
    // 400 units of 0.25 ms: 100 ms of work, 1 ms a turn.
    const task = greedy('t', 400, 0.25);
    work.schedule(task);
    client.write('x');
    const unitsBefore = await heard;
    client.destroy();
    server.close();
    expect(unitsBefore).toBeLessThan(200);
    await runOut(task);
  });

  it('reports a task that throws and still runs the others', async () => {
    const failures: unknown[] = [];
    const work = new LoopWork(5, (err) => failures.push(err));
    const ran: string[] = [];
    work.schedule({
      runSlice: () => {
        throw new Error('broken task');
      },
    });
    work.schedule({
      runSlice: () => {
        ran.push('second');
        return false;
      },
    });
    await nextTurn();
    expect(failures.map((e) => (e as Error).message)).toEqual(['broken task']);
    expect(ran).toEqual(['second']);
    expect(work.pending).toBe(0);
  });

  it('gives an async producer a share of each busy turn, so it moves on while sync work waits too', async () => {
    const { work, clock, greedy } = setup(2);
    const sync = greedy('s', 200, 0.25);
    work.schedule(sync);
    let asyncUnits = 0;
    const asyncTurns: number[] = [];
    const producer = (async () => {
      while (asyncUnits < 20) {
        if (work.sliceOver()) await work.slice();
        asyncTurns.push(clock.turn);
        busy(0.1);
        asyncUnits++;
      }
    })();
    await producer;
    // Done while the sync task (50 ms of work) still had most of it left.
    expect(sync.left).toBeGreaterThan(50);
    expect(new Set(asyncTurns).size).toBeGreaterThan(1);
    await runOut(sync);
  });

  it('runs a turn shortened for an interactive client for a fraction of the allowance', async () => {
    const turnMs = 10;
    const { work, greedy } = setup(turnMs);
    const task = greedy('t', 400, 0.25);
    work.schedule(task);
    work.shortenNextTurn();
    await nextTurn();
    const shortTurnUnits = 400 - task.left;
    // 0.3 of 10 ms is 12 units of 0.25 ms; a full turn is 40 (fewer on a slow machine, never more).
    expect(shortTurnUnits).toBeLessThanOrEqual(13);
    // Only the next turn is short.
    let fullTurnUnitsMax = 0;
    for (let i = 0; i < 5; i++) {
      const before = task.left;
      await nextTurn();
      fullTurnUnitsMax = Math.max(fullTurnUnitsMax, before - task.left);
    }
    expect(fullTurnUnitsMax).toBeGreaterThan(13);
    await runOut(task);
  });

  it('holds output deferred with afterWork until the queued work runs out or a few turns pass', async () => {
    const work = new LoopWork(1);
    const events: string[] = [];
    // Outside a turn: on the next tick.
    work.afterWork(() => events.push('outside'));
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(events).toEqual(['outside']);

    // Inside a turn, with work left for 2 more turns: sent when it runs out (after turn 3).
    let turns = 0;
    work.schedule({
      runSlice: () => {
        turns++;
        expect(work.inTurn).toBe(true);
        if (turns === 1) work.afterWork(() => events.push(`flushed after turn ${turns}`));
        return turns < 3;
      },
    });
    while (turns < 3) await nextTurn();
    await nextTurn();
    expect(events).toEqual(['outside', 'flushed after turn 3']);
    expect(work.inTurn).toBe(false);

    // With work that never runs out: sent after at most 4 turns.
    let endless = 0;
    let flushedAt = -1;
    const forever: SlicedWork = {
      runSlice: () => {
        endless++;
        if (endless === 1) work.afterWork(() => (flushedAt = endless));
        return endless < 20;
      },
    };
    work.schedule(forever);
    while (endless < 20) await nextTurn();
    expect(flushedAt).toBeGreaterThanOrEqual(1);
    expect(flushedAt).toBeLessThanOrEqual(5);
  });
});
