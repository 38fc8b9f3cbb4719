import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainFailure, Fuzzer, type FuzzerOptions } from '../../src/fuzz/campaign.js';
import { loadClientCorpus } from '../../src/fuzz/client-cases.js';
import { FuzzServers, repoRoot } from '../../src/fuzz/servers.js';
import { scaled } from '../support/wait.js';

// A three-member ensemble of `zkts server` processes under seeded fuzzing: 5,000 client-port
// inputs to a follower (which forwards writes to the leader), then 5,000 inputs to the members'
// election ports: every peer message type with fields removed, retyped and out of range, broken
// frames, bad hellos, sent as a learner (a declared observer no process runs), and now and then as
// the leader itself to a follower. After every batch each member is alive, answers ruok, an
// established session reads and writes, and RSS stays under the bound; at the end every member
// recovers from what was logged. Fixed seeds; a failure prints the command that replays it.

const rssMaxMiB = 300;
const clientSeed = 1002;
const peerSeed = 1003;
const clientInputs = 5_000;
const peerInputs = 5_000;

describe('a three-member ensemble under seeded fuzzing', () => {
  let servers: FuzzServers;
  const corpus = loadClientCorpus(join(repoRoot, 'test', 'fixtures', 'zk38-frames.json'));
  const health = { rssMaxMiB, sessionWaitMs: 20_000 };
  const fuzzers: Fuzzer[] = [];

  beforeAll(async () => {
    servers = await FuzzServers.start({ kind: 'ensemble' });
    console.log(`ensemble fuzz seeds: client ${clientSeed} (replay: npm run fuzz -- --target client --servers ensemble --seed ${clientSeed} --inputs ${clientInputs}), peer ${peerSeed} (replay: npm run fuzz -- --target peer --seed ${peerSeed} --inputs ${peerInputs})`);
  });

  afterAll(async () => {
    for (const f of fuzzers) await f.close();
    await servers?.destroy();
  });

  async function survive(options: FuzzerOptions, wanted: number): Promise<void> {
    if (servers.exited().length > 0) {
      // An earlier part of this file crashed a member: this part gets servers of its own.
      await servers.destroy();
      servers = await FuzzServers.start({ kind: 'ensemble' });
    }
    const fuzzer = await Fuzzer.start(servers, options);
    fuzzers.push(fuzzer);
    let delivered = 0;
    while (delivered < wanted) {
      const result = await fuzzer.batch();
      delivered += result.delivered;
      expect(result.health.failures.join('\n') || 'healthy', explainFailure(options, servers, result)).toBe('healthy');
      expect(result.delivered, 'almost nothing was delivered: the fuzzer is not reaching the members').toBeGreaterThan(result.inputs / 2);
    }
  }

  it(`survives ${clientInputs} client-port inputs to a follower: every member alive, answering imok, a session reading and writing, RSS under ${rssMaxMiB} MiB`, async () => {
    await survive({ target: 'client', seed: clientSeed, corpus, batchInputs: 2500, parallel: 4, health, clientMember: 'follower' }, clientInputs);
  }, scaled(180_000));

  it(`survives ${peerInputs} election-port inputs before and after a valid hello: every member alive, answering imok, a session reading and writing, RSS under ${rssMaxMiB} MiB`, async () => {
    await survive({ target: 'peer', seed: peerSeed, corpus, batchInputs: 1000, parallel: 2, health }, peerInputs);
  }, scaled(180_000));

  it('every member recovers what the fuzzing got logged: after a restart all serve and the session reads and writes', async () => {
    await servers.restart();
    // The last fuzzer's session is on the servers running now (a crash earlier in the file replaces them).
    const report = await fuzzers[fuzzers.length - 1]!.checker.check(-1);
    expect(report.failures.join('\n') || 'healthy', servers.outputTails(30)).toBe('healthy');
  }, scaled(60_000));
});
