import type { NetworkFaults } from './network.js';
import type { Prng } from './prng.js';

/** Per-seed fault intensities ("swarm testing": each seed stresses a different mix). */
export interface FaultPlan {
  readonly crashChancePerTick: number;
  readonly partitionChancePerTick: number;
  readonly resetChancePerTick: number;
  readonly pauseChancePerTick: number;
  readonly writesPerTickMean: number;
  readonly fsyncDelayMax: number;
  readonly network: NetworkFaults;
}

export const quietFaultPlan: FaultPlan = Object.freeze({
  crashChancePerTick: 0,
  partitionChancePerTick: 0,
  resetChancePerTick: 0,
  pauseChancePerTick: 0,
  writesPerTickMean: 0,
  fsyncDelayMax: 4,
  network: Object.freeze({
    delayMin: 1,
    delayMax: 3,
    slowChance: 0,
    slowFactor: 1,
    electionDropChance: 0,
    electionDuplicateChance: 0,
  }),
});

export function drawFaultPlan(prng: Prng): FaultPlan {
  return {
    crashChancePerTick: prng.float() * 0.03,
    partitionChancePerTick: prng.float() * 0.02,
    resetChancePerTick: prng.float() * 0.03,
    pauseChancePerTick: prng.float() * 0.01,
    writesPerTickMean: 0.2 + prng.float() * 1.5,
    fsyncDelayMax: prng.range(2, 25),
    network: {
      delayMin: 1,
      delayMax: prng.range(2, 8),
      slowChance: prng.float() * 0.1,
      slowFactor: prng.range(1, 6),
      electionDropChance: prng.float() * 0.2,
      electionDuplicateChance: prng.float() * 0.1,
    },
  };
}

/** What the chaos drives: the simulator's scripted controls. */
export interface ChaosTarget {
  readonly prng: Prng;
  readonly faults: FaultPlan;
  readonly tickCount: number;
  readonly nodes: ReadonlyMap<number, { readonly up: boolean }>;
  readonly network: { readonly partitioned: boolean };
  crash(sid: number): void;
  restart(sid: number): void;
  partition(groups: readonly (readonly number[])[]): void;
  heal(): void;
  resetLink(a: number, b: number): void;
  pause(sid: number, ticks: number): void;
  write(sid: number): number;
  sync(sid: number): unknown;
}

/**
 * The safety phase's random faults and workload, drawn tick by tick from the seed's plan,
 * and the heals and restarts they schedule.
 */
export class SimChaos {
  private healAtTick = -1;
  private forcedFaultTick = -1;
  private readonly restartAtTick = new Map<number, number>();

  constructor(private readonly sim: ChaosTarget) {}

  /** Every run gets at least one crash, partition or pause, whatever the drawn intensities. */
  forceOneFault(safetyTicks: number): void {
    this.forcedFaultTick = this.sim.prng.range(5, Math.max(5, safetyTicks - 5));
  }

  injectFaults(): void {
    const { sim } = this;
    const plan = sim.faults;
    const prng = sim.prng;
    const sids = [...sim.nodes.keys()];
    if (sim.tickCount === this.forcedFaultTick) this.injectForcedFault(sids);
    if (prng.chance(plan.crashChancePerTick)) {
      const victim = prng.pick(sids);
      if (sim.nodes.get(victim)!.up) this.crashAndRestartLater(victim);
    }
    if (!sim.network.partitioned && prng.chance(plan.partitionChancePerTick)) {
      const shuffled = [...sids].sort(() => prng.float() - 0.5);
      const cut = prng.range(1, shuffled.length - 1);
      this.partitionAndHealLater([shuffled.slice(0, cut), shuffled.slice(cut)]);
    }
    if (prng.chance(plan.resetChancePerTick)) {
      const a = prng.pick(sids);
      const b = prng.pick(sids);
      if (a !== b) sim.resetLink(a, b);
    }
    if (prng.chance(plan.pauseChancePerTick)) sim.pause(prng.pick(sids), prng.range(2, 30));
  }

  private injectForcedFault(sids: number[]): void {
    const { sim } = this;
    const kind = sim.prng.int(3);
    const victim = sim.prng.pick(sids);
    if (kind === 0 && sim.nodes.get(victim)!.up) this.crashAndRestartLater(victim);
    else if (kind === 1 && !sim.network.partitioned) this.partitionAndHealLater([[victim], sids.filter((sid) => sid !== victim)]);
    else sim.pause(victim, sim.prng.range(2, 30));
  }

  private crashAndRestartLater(sid: number): void {
    this.sim.crash(sid);
    this.restartAtTick.set(sid, this.sim.tickCount + this.sim.prng.range(3, 60));
  }

  private partitionAndHealLater(groups: number[][]): void {
    this.sim.partition(groups);
    this.healAtTick = this.sim.tickCount + this.sim.prng.range(5, 60);
  }

  /** The heals and restarts that are due. */
  scheduledRecoveries(): void {
    const { sim } = this;
    if (this.healAtTick >= 0 && sim.tickCount >= this.healAtTick) {
      this.healAtTick = -1;
      sim.heal();
    }
    for (const [sid, at] of this.restartAtTick) {
      if (sim.tickCount >= at) {
        this.restartAtTick.delete(sid);
        sim.restart(sid);
      }
    }
  }

  injectWorkload(): void {
    const { sim } = this;
    const mean = sim.faults.writesPerTickMean;
    let writes = Math.floor(mean);
    if (sim.prng.chance(mean - writes)) writes++;
    const sids = [...sim.nodes.keys()];
    for (let i = 0; i < writes; i++) sim.write(sim.prng.pick(sids));
    if (sim.prng.chance(0.05)) sim.sync(sim.prng.pick(sids));
  }

  /** The liveness phase: nothing more is scheduled. */
  stop(): void {
    this.healAtTick = -1;
    this.restartAtTick.clear();
  }
}
