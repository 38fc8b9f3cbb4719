import { crashSignature } from './confirm.js';
import { replayCrasher, type CrasherConnection, type CrasherFile } from './crashers.js';
import type { HealthOptions } from './health.js';

// Shrinks a crasher to what it needs: connections first, then inputs within each (a client
// connection keeps its handshake), each removal kept only if a replay against fresh servers
// still fails with the same signature. Chunks halve (ddmin's idea), so a long input list costs
// a logarithmic number of replays before single inputs are tried.

async function signatureOf(crasher: CrasherFile, health: HealthOptions): Promise<string | null> {
  const result = await replayCrasher(crasher, health);
  if (result.failures.length === 0 && result.restartFailures.length === 0) return null;
  return crashSignature(result.output);
}

/** Removes chunks of `items` (keeping the first `fixed`) while `stillFails` holds; returns what is left. */
async function shrink<T>(items: readonly T[], fixed: number, stillFails: (candidate: T[]) => Promise<boolean>): Promise<T[]> {
  let current = [...items];
  let chunk = Math.max(1, Math.ceil((current.length - fixed) / 2));
  while (chunk >= 1) {
    let removedAny = false;
    for (let start = current.length - chunk; start >= fixed; start -= chunk) {
      const candidate = [...current.slice(0, start), ...current.slice(start + chunk)];
      if (candidate.length > 0 && (await stillFails(candidate))) {
        current = candidate;
        removedAny = true;
      }
    }
    if (!removedAny) {
      if (chunk === 1) break;
      chunk = Math.ceil(chunk / 2);
    }
  }
  return current;
}

export async function minimizeCrasher(crasher: CrasherFile, health: HealthOptions, log: (line: string) => void): Promise<CrasherFile> {
  // The crash the file was saved for; a replay may show another one first (a poisoned log).
  const signature = crasher.found !== undefined ? crashSignature(crasher.found.output) : await signatureOf(crasher, health);
  if (signature === null) throw new Error('the crasher does not fail: nothing to minimize');
  log(`signature: ${signature}`);
  if ((await signatureOf(crasher, health)) !== signature) throw new Error('a replay of the whole crasher does not fail that way: nothing to minimize against');
  let replays = 0;
  const fails = async (candidate: CrasherFile): Promise<boolean> => {
    replays++;
    const theirs = await signatureOf(candidate, health);
    return theirs === signature;
  };
  const connections = await shrink(crasher.connections, 0, (candidate) => fails({ ...crasher, connections: candidate }));
  log(`connections: ${crasher.connections.length} -> ${connections.length} (${replays} replays)`);
  const kept: CrasherConnection[] = [...connections];
  for (let i = 0; i < kept.length; i++) {
    const c = kept[i]!;
    const fixed = c.handshake ? 1 : 0;
    const inputs = await shrink(c.inputs, fixed, (candidate) => {
      const trial = [...kept];
      trial[i] = { ...c, inputs: candidate };
      return fails({ ...crasher, connections: trial });
    });
    log(`connection ${i + 1}: inputs ${c.inputs.length} -> ${inputs.length} (${replays} replays)`);
    kept[i] = { ...c, inputs };
  }
  return { ...crasher, connections: kept };
}
