import { SimViolation, check } from './sim-oracle.js';
import type { SimOptions, SimReport } from './sim-types.js';
import { Simulation } from './simulation.js';

export const defaultSafetyTicks = 150;
export const defaultLivenessTicksMax = 400;

/** One seed, default phases: what `npm run sim` and the sweep run. */
export function runSeed(seed: number, options: Partial<SimOptions> = {}): SimReport {
  const sim = new Simulation({ seed, traceLines: 60, ...options });
  return runSimulation(sim, defaultSafetyTicks, defaultLivenessTicksMax);
}

/** Safety phase with faults, then the liveness phase; never throws, reports instead. */
export function runSimulation(sim: Simulation, safetyTicks: number, livenessTicksMax: number): SimReport {
  let failure: string | null = null;
  try {
    sim.start();
    sim.runSafety(safetyTicks);
    runLiveness(sim, livenessTicksMax);
  } catch (error) {
    failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (!(error instanceof SimViolation) && error instanceof Error && error.stack) failure += `\n${error.stack}`;
  }
  finishStats(sim);
  return {
    seed: sim.options.seed,
    ok: failure === null,
    failure,
    voters: sim.view.voters.length,
    observers: sim.view.observers.length,
    stats: { ...sim.stats },
    trace: [...sim.trace],
  };
}

/** Heal everything, then demand a leader, fresh commits and convergence within a bound. */
export function runLiveness(sim: Simulation, livenessTicksMax: number): void {
  sim.healAll();
  const deadline = sim.tickCount + livenessTicksMax;
  const remaining = (): number => deadline - sim.tickCount;
  check(sim.runUntil(() => sim.stableLeader() !== null, remaining()), `liveness: no stable leader within ${livenessTicksMax} ticks after heal`);
  // Fresh writes on the healed cluster must commit. A write may still fail once if a link
  // reset from the safety phase lands late; it is resubmitted, as a client would.
  const fresh: number[] = [];
  for (let i = 0; i < 5; i++) fresh.push(sim.write(sim.prng.pick([...sim.nodes.keys()])));
  const settle = (): boolean => {
    for (let i = 0; i < fresh.length; i++) {
      const status = sim.writes.get(fresh[i]!)!.status;
      if (status === 'unknown' || status === 'rejected') fresh[i] = sim.write(sim.prng.pick([...sim.nodes.keys()]));
    }
    return fresh.every((id) => sim.writes.get(id)!.status === 'acked');
  };
  check(sim.runUntil(settle, remaining()), `liveness: fresh writes not committed in time: ${fresh.map((id) => sim.writes.get(id)!.status).join(',')}`);
  check(sim.runUntil(() => sim.converged(), remaining()), 'liveness: servers did not converge on the committed log');
  checkSyncs(sim, remaining());
  // (c) under a stable leader, sessions nobody touches expire within their timeout and a bucket, plus time to commit the close.
  const within = sim.sessions.silenceSome() + sim.limits.sessionBucketTicks + 40;
  check(sim.runUntil(() => sim.sessions.silentSessionsClosed(), within), `liveness: silent sessions not expired within ${within} ticks: ${sim.sessions.silentOpen()}`);
}

/** A sync begun on every server must be answered, and show every write acked before it. */
function checkSyncs(sim: Simulation, ticks: number): void {
  const requests = [...sim.nodes.keys()].map((sid) => ({ sid, request: sim.sync(sid) }));
  check(sim.runUntil(() => requests.every((r) => r.request.done), ticks), 'liveness: syncs not answered on a stable cluster');
  for (const { sid, request } of requests) {
    check(sim.node(sid).sm.count >= request.mustSeeCount, `${sid}: sync done but an acked write is not visible`);
  }
}

function finishStats(sim: Simulation): void {
  const stats = sim.stats;
  let acked = 0;
  let rejected = 0;
  let unknown = 0;
  for (const w of sim.writes.values()) {
    if (w.status === 'acked') acked++;
    else if (w.status === 'rejected') rejected++;
    else unknown++;
  }
  stats.writesAcked = acked;
  stats.writesRejected = rejected;
  stats.writesUnknown = unknown;
  stats.committed = sim.canon.length;
  stats.sessionsOpened = sim.sessions.stats.sessionsOpened;
  stats.sessionsExpired = sim.sessions.stats.sessionsExpired;
  stats.revalidationsValid = sim.sessions.stats.revalidationsValid;
}
