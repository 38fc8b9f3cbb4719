import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import vm from 'node:vm';
import type { Logger } from '../logger.js';

/**
 * Gives back the young generation a load grew once the server falls idle. V8 grows its
 * semi-spaces under load (up to the --max-semi-space-size the members run with) and keeps them
 * resident while idle: it shrinks them only in a scavenge that finds the recent allocation rate
 * low and not zero, from samples taken at collections, and an idle process has none. So when
 * the young generation has been quiet for a check period, two bursts of minor collections
 * (each cheap, the space being almost empty) a few milliseconds apart give V8 such samples
 * (one burst alone leaves a rate of zero), and it shrinks the space then.
 * Otherwise a check only reads the heap statistics and the event loop's utilization.
 */
export interface YoungGenerationTrimOptions {
  /** How often the young generation is looked at. */
  checkIntervalMs: number;
  /** A period in which the event loop was busy less than this share of the time (and nothing was collected) counts as idle. */
  idleUtilizationMax: number;
  /** A young generation holding no more than this is left as it is. */
  residentBytesMin: number;
}

export const youngGenerationTrimDefaults: Readonly<YoungGenerationTrimOptions> = Object.freeze({
  checkIntervalMs: 1_000,
  idleUtilizationMax: 0.02,
  residentBytesMin: 4 * 1024 * 1024,
});

/** Collections in a burst: more than the ten samples V8 averages the rate over. */
const collectionsPerBurst = 12;
/** Between the two bursts of a trim: long enough for a sample with a rate above zero. */
const burstGapMs = 50;
/** How much V8 grows a young generation that fills with survivors (its default: 2). */
const semiSpaceGrowthFactor = 8;
/** Trims tried in one idle spell before waiting for load again, should V8 not shrink. */
const trimsPerIdleSpellMax = 3;

type MinorCollector = (options: { type: 'minor' }) => void;

/**
 * V8's gc(), obtained without giving it to the server's own global: the flag is set only while
 * a throwaway context is made. Null when this V8 does not provide it.
 */
function minorCollector(): MinorCollector | null {
  v8.setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as MinorCollector) : null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

function youngGeneration(): v8.HeapSpaceInfo | undefined {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
}

/** Starts the periodic check; stop() ends it. Null (and a warning) when V8 gives no way to collect. */
export function startYoungGenerationTrim(log: Logger, options: YoungGenerationTrimOptions = youngGenerationTrimDefaults): { stop(): void } | null {
  const gc = minorCollector();
  if (gc === null || youngGeneration() === undefined) {
    log.warn('no minor collection or young generation statistics in this V8: the young generation is not trimmed when idle');
    return null;
  }
  // A load after a trim gets its young generation back in one step, not three doublings.
  v8.setFlagsFromString(`--semi-space-growth-factor=${semiSpaceGrowthFactor}`);
  const minor = { type: 'minor' } as const;
  let lastUsed = youngGeneration()!.space_used_size;
  let lastLoop = performance.eventLoopUtilization();
  let trimsThisSpell = 0;
  let trimming = false;
  const burst = (): void => {
    for (let i = 0; i < collectionsPerBurst; i++) gc(minor);
  };
  const trim = (before: v8.HeapSpaceInfo): void => {
    trimming = true;
    trimsThisSpell++;
    const cpuBefore = process.cpuUsage();
    burst();
    setTimeout(() => {
      burst();
      trimming = false;
      const after = youngGeneration()!;
      // The next period starts here, so that a trim is not taken for load.
      lastUsed = after.space_used_size;
      lastLoop = performance.eventLoopUtilization();
      const cpu = process.cpuUsage(cpuBefore);
      log.info({ residentBytes: before.physical_space_size, residentBytesAfter: after.physical_space_size, cpuMs: Math.round((cpu.user + cpu.system) / 1000) }, 'young generation trimmed');
    }, burstGapMs).unref();
  };
  const check = (): void => {
    if (trimming) return;
    const space = youngGeneration()!;
    const collected = space.space_used_size < lastUsed;
    lastUsed = space.space_used_size;
    const loop = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(loop, lastLoop).utilization;
    lastLoop = loop;
    if (collected || busy > options.idleUtilizationMax) {
      trimsThisSpell = 0;
      return;
    }
    if (space.physical_space_size > options.residentBytesMin && trimsThisSpell < trimsPerIdleSpellMax) trim(space);
  };
  const timer = setInterval(check, options.checkIntervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
