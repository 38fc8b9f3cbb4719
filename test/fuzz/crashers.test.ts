import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCrashers, replayCrasher } from '../../src/fuzz/crashers.js';
import { errorName } from '../../src/protocol/constants.js';
import { packageRoot } from '../../src/testing/member-process.js';
import { scaled } from '../support/wait.js';

// Every input that ever crashed a member, byte for byte (test/fuzz/crashers/*.json, written by
// `npm run fuzz` when it confirms a crash, then named for what the input is). Each is sent to
// fresh servers as the fuzzer sent it, peer messages after a handshake played with this run's
// nonces; the member must survive it (alive, answering imok, an open session reading and
// writing), recover after a restart, and the sender must get ZooKeeper's answer or a closed
// connection.

const crashers = readCrashers(join(packageRoot, 'test', 'fuzz', 'crashers'));
const health = { rssMaxMiB: 512, sessionWaitMs: 15_000 };

describe('inputs that once crashed a member', () => {
  it('are kept as files, at least the ones found before the fuzzer existed', () => {
    expect(crashers.length).toBeGreaterThanOrEqual(5);
  });

  for (const { file, crasher } of crashers) {
    it(`${crasher.target} port: ${crasher.name}`, async () => {
      const result = await replayCrasher(crasher, health);
      const context = `${file}\n${result.output}`;
      expect(result.failures.join('\n') || 'survived', context).toBe('survived');
      expect(result.restartFailures.join('\n') || 'recovered', context).toBe('recovered');
      result.runs.forEach((run, i) => {
        expect(run.answered || run.closedByServer, `no answer and no close from server ${run.sid}: ${context}`).toBe(true);
        // The input reached the member: a handshake meant to succeed did (the member answered the probe after it).
        if (run.peer !== null && run.peer.opening.expect === 'accepted') expect(run.peer.handshake, `the handshake with server ${run.sid}: ${context}`).toBe('accepted');
        expect(run.peer?.violations ?? []).toEqual([]);
        const expected = crasher.connections[i]!.answers;
        // Replies come in request order; the handshake's is not among the errors.
        const answer = expected === undefined ? undefined : run.errors[expected.input - 1];
        if (expected !== undefined && answer !== undefined) expect(expected.errors).toContain(errorName(answer));
      });
    }, scaled(90_000));
  }
});
