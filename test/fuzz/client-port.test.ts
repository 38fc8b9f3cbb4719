import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainFailure, Fuzzer, type FuzzerOptions } from '../../src/fuzz/campaign.js';
import { loadClientCorpus } from '../../src/fuzz/client-cases.js';
import { FuzzServers } from '../../src/fuzz/servers.js';
import { packageRoot } from '../../src/testing/member-process.js';
import { scaled } from '../support/wait.js';

// A standalone `zkts server` process takes 15,000 seeded fuzz inputs on its client port: every
// opcode, each record field mutated, bad handshakes and none, broken frames. After every batch
// it must be alive, answer ruok, keep an established session reading and writing, and stay
// under the RSS bound; then it must recover whatever the fuzzing got logged. The seed is fixed:
// a failure prints the command that replays its cases.

const clientRssMaxMiB = 300;
const seed = 1001;
const inputsWanted = 15_000;

describe('client port under seeded fuzzing (standalone zkts server)', () => {
  let servers: FuzzServers;
  let fuzzer: Fuzzer;
  const options: FuzzerOptions = {
    target: 'client',
    seed,
    corpus: loadClientCorpus(join(packageRoot, 'test', 'fixtures', 'zk38-frames.json')),
    batchInputs: 2500,
    parallel: 4,
    health: { rssMaxMiB: clientRssMaxMiB, sessionWaitMs: 20_000 },
  };

  beforeAll(async () => {
    servers = await FuzzServers.start({ kind: 'standalone' });
    fuzzer = await Fuzzer.start(servers, options);
    console.log(`client-port fuzz seed ${seed}; replay: npm run fuzz -- --target client --servers standalone --seed ${seed} --inputs ${inputsWanted}`);
  });

  afterAll(async () => {
    await fuzzer?.close();
    await servers?.destroy();
  });

  it(`survives ${inputsWanted} inputs: after each batch it is alive, answers imok, an open session reads and writes, RSS stays under ${clientRssMaxMiB} MiB`, async () => {
    let delivered = 0;
    while (delivered < inputsWanted) {
      const result = await fuzzer.batch();
      delivered += result.delivered;
      expect(result.health.failures.join('\n') || 'healthy', explainFailure(options, servers, result)).toBe('healthy');
      expect(result.delivered, 'the server answered almost nothing: the fuzzer is not reaching it').toBeGreaterThan(result.inputs / 2);
    }
  }, scaled(180_000));

  it('recovers what the fuzzing got logged: after a restart it serves and the session still reads and writes', async () => {
    await servers.restart();
    const report = await fuzzer.checker.check(-1);
    expect(report.failures.join('\n') || 'healthy', servers.outputTails(30)).toBe('healthy');
  }, scaled(60_000));
});
