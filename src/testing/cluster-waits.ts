import type { WaitOptions } from './cluster.js';
import type { Member } from './member.js';
import { waitFor } from './wait.js';

const waitTimeoutMsDefault = 20_000;
const convergeTimeoutMsDefault = 10_000;
const pollIntervalMs = 20;

/** Modes in which a member answers clients. */
const servingModes = new Set(['leader', 'follower', 'observer', 'standalone']);

/** Resolves with the id of the one member of `candidates` (those running and unpaused) that says it leads. */
export async function waitForLeader(candidates: readonly Member[], options: WaitOptions = {}): Promise<number> {
  return waitFor(
    'exactly one leader among the running members',
    async () => {
      const live = candidates.filter((m) => m.live);
      await Promise.all(live.map((m) => m.observe()));
      const leaders = live.filter((m) => m.observed?.mode === 'leader');
      return leaders.length === 1 ? leaders[0]!.id : undefined;
    },
    { timeoutMs: options.timeoutMs ?? waitTimeoutMsDefault, intervalMs: pollIntervalMs },
  );
}

/** Resolves with the leader's id once it and a majority of the voters serve. */
export async function waitForQuorum(members: readonly Member[], options: WaitOptions = {}): Promise<number> {
  const voters = members.filter((m) => m.role === 'participant');
  return waitFor(
    'a leader and a majority of voters serving',
    async () => {
      await Promise.all(members.map((m) => m.observe()));
      const leaders = voters.filter((m) => m.live && m.observed?.mode === 'leader');
      const serving = voters.filter((m) => m.live && (m.observed?.mode === 'leader' || m.observed?.mode === 'follower'));
      return leaders.length === 1 && serving.length * 2 > voters.length ? leaders[0]!.id : undefined;
    },
    { timeoutMs: options.timeoutMs ?? waitTimeoutMsDefault, intervalMs: pollIntervalMs },
  );
}

/** Resolves once each of `members` serves clients; one that is not running fails the wait at once. */
export async function waitForServing(members: readonly Member[], options: WaitOptions = {}): Promise<void> {
  await waitFor(
    `servers ${members.map((m) => m.id).join(', ')} to serve`,
    async () => {
      for (const m of members) if (m.process.state === 'stopped') throw new Error(`server ${m.id} is not running (last exit: code ${m.process.exit?.code}, signal ${m.process.exit?.signal})`);
      const statuses = await Promise.all(members.map((m) => m.observe()));
      return statuses.every((s) => s !== null && servingModes.has(s.mode));
    },
    { timeoutMs: options.timeoutMs ?? waitTimeoutMsDefault, intervalMs: pollIntervalMs },
  );
}

/** See TestingCluster.assertConverged. */
export async function assertConverged(members: readonly Member[], options: WaitOptions = {}): Promise<{ zxid: bigint; digest: bigint }> {
  let last = '';
  try {
    return await waitFor(
      'every live member to have the same zxid and tree digest',
      async () => {
        const live = members.filter((m) => m.live);
        const answers = await Promise.all(live.map((m) => m.digest()));
        last = live.map((m, i) => `server ${m.id}: ${describeDigest(answers[i]!)}`).join('; ');
        const first = answers[0];
        if (first === undefined || typeof first === 'string') return undefined;
        const agree = answers.every((a) => typeof a !== 'string' && a.zxid === first.zxid && a.digest === first.digest);
        return agree ? first : undefined;
      },
      { timeoutMs: options.timeoutMs ?? convergeTimeoutMsDefault, intervalMs: 50 },
    );
  } catch (error) {
    throw new Error(`the members did not converge: ${last} (${(error as Error).message})`, { cause: error });
  }
}

function describeDigest(answer: { zxid: bigint; digest: bigint } | string): string {
  return typeof answer === 'string' ? answer : `zxid 0x${answer.zxid.toString(16)}, digest ${answer.digest}`;
}
