import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newNonce } from '../quorum/peer-handshake.js';
import { runClientConnection } from './client-driver.js';
import { HealthChecker, type HealthOptions } from './health.js';
import type { PeerClaim } from './peer-cases.js';
import { validDial, type OpeningPlan, type OpeningStep } from './peer-opening.js';
import { FuzzServers, phantomObserverSid, type ServerSetKind } from './servers.js';
import { clientRun, PeerTarget, resolvePeerCase, runPeerCase, type CaseRun, type FuzzTarget, type MemberRole } from './targets.js';

// A crasher: the exact bytes that made a member exit or fail a check, one connection after
// another, with where they go. The fuzzer writes one file per crash it confirms; every file in
// test/fuzz/crashers/ is a regression test that replays it against fresh servers.

export interface CrasherConnection {
  /** The member the bytes go to. */
  member: MemberRole;
  /**
   * Peer connections: whom the fuzzer claims to be when it dials (the observer, the leader, a
   * voter); null when the inputs carry their own opening (raw bytes, no handshake).
   */
  hello: PeerClaim | null;
  /**
   * Peer connections: how the connection opens, step by step; its frames are built when it
   * runs, with that run's nonces. Absent with a `hello`: a valid handshake, dialling.
   */
  opening?: OpeningPlan;
  /** Client connections: whether the first input is a handshake the server should answer. */
  handshake: boolean;
  inputs: { what: string; hex: string }[];
  /**
   * Client connections: the errors ZooKeeper 3.8 answers input number `input` with (the server
   * may instead close the connection before answering). Absent: any answer will do.
   */
  answers?: { input: number; errors: string[] };
}

export interface CrasherFile {
  /** What the input is, in words: the test's name. */
  name: string;
  target: FuzzTarget;
  servers: ServerSetKind;
  connections: CrasherConnection[];
  /** Connections open at once, as when the crash was found (some crashes need two at a time); default 1. */
  parallel?: number;
  /** The servers' snapCount, when the crash needs a snapshot sooner than the fuzzer's default. */
  snapCount?: number;
  /** Where the fuzzer found it, how the servers failed, and how to find it again. */
  found?: { seed: number; cases: number[]; replay: string; failures: string[]; output: string };
}

export function connectionOf(run: CaseRun): CrasherConnection {
  const peer = run.peer;
  if (peer === null) {
    return { member: run.member, hello: null, handshake: run.handshake, inputs: run.chunks.map((c) => ({ what: c.what, hex: c.bytes.toString('hex') })) };
  }
  return {
    member: run.member,
    hello: peer.claim,
    opening: { ...peer.opening, steps: recordedSteps(peer.opening.steps, run.chunks) },
    handshake: false,
    inputs: peer.messages.map((c) => ({ what: c.what, hex: c.bytes.toString('hex') })),
  };
}

/** The steps with each byte-level mutation replaced by the bytes it produced, so that a file does not depend on the mutator. */
function recordedSteps(steps: readonly OpeningStep[], written: readonly { what: string; bytes: Buffer }[]): OpeningStep[] {
  let at = 0;
  return steps.map((step) => {
    if (!('send' in step)) return step;
    const sent = written[at++];
    if (step.send === 'raw' || step.change.kind !== 'bytes' || sent === undefined) return step;
    return { send: 'raw', what: sent.what, hex: sent.bytes.toString('hex') };
  });
}

export function writeCrasher(dir: string, fileName: string, crasher: CrasherFile): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, fileName);
  writeFileSync(file, `${JSON.stringify(crasher, null, 2)}\n`);
  return file;
}

export function readCrashers(dir: string): { file: string; crasher: CrasherFile }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: join(dir, f), crasher: JSON.parse(readFileSync(join(dir, f), 'utf8')) as CrasherFile }));
}

/** How a crasher's peer connection opens: its plan, a valid dial for a claim, or its raw inputs. */
function openingOf(c: CrasherConnection): OpeningPlan | null {
  if (c.opening !== undefined) return c.opening;
  return c.hello !== null ? validDial(newNonce()) : null;
}

/** The sid a connection of a crasher goes to, and the sid the fuzzer is on it, on these servers now. */
async function placeConnection(servers: FuzzServers, c: CrasherConnection, opening: OpeningPlan | null): Promise<{ sid: number; claimed: number }> {
  const leader = (await servers.leaderSid()) ?? 1;
  const voters = servers.members.map((m) => m.sid);
  if (opening !== null) {
    const target = c.member === 'leader' ? 'leader' : 'follower';
    const claim = c.hello ?? 'observer';
    const placed = resolvePeerCase({ claim, target, pick: 0, side: opening.side }, leader, voters);
    if (opening.side === 'dial' && claim !== 'observer' && placed.claimed === phantomObserverSid) {
      throw new Error(`cannot send as the ${claim}: server ${leader} leads and no member below it can be dialled as it`);
    }
    return { sid: placed.target, claimed: placed.claimed };
  }
  const sid = c.member === 'follower' ? voters.find((s) => s !== leader)! : c.member === 'leader' ? leader : 1;
  return { sid, claimed: 0 };
}

/** Sends one connection of a crasher, as the fuzzer did; `runner` holds the listener for members' dials. */
export async function replayConnection(servers: FuzzServers, target: FuzzTarget, c: CrasherConnection, runner: PeerTarget): Promise<CaseRun> {
  const opening = target === 'peer' ? openingOf(c) : null;
  const { sid, claimed } = await placeConnection(servers, c, opening);
  const inputs = c.inputs.map((i) => ({ what: i.what, bytes: Buffer.from(i.hex, 'hex') }));
  if (target === 'client') {
    const startedAt = Date.now();
    const outcome = await runClientConnection(servers.member(sid).clientPort, inputs, c.handshake, true);
    return clientRun(-1, sid, c.member, inputs, c.handshake, outcome, startedAt);
  }
  const placement = { target: sid, role: c.member, claim: c.hello ?? 'observer', claimed };
  if (opening !== null) return runPeerCase(-1, servers, runner, placement, opening, inputs, inputs.length);
  // No handshake: the inputs are the connection's bytes from its first.
  const raw: OpeningPlan = {
    side: 'dial',
    shape: 'no hello',
    steps: inputs.map((i) => ({ send: 'raw', what: i.what, hex: i.bytes.toString('hex') })),
    expect: 'either',
    then: 'end',
    nonce: Buffer.alloc(32).toString('hex'),
  };
  return runPeerCase(-1, servers, runner, placement, raw, [], inputs.length);
}

export interface ReplayResult {
  /** One per connection of the crasher, in its order. */
  runs: CaseRun[];
  /** Health right after the input, then after every member was restarted on its own dataDir. */
  failures: string[];
  restartFailures: string[];
  output: string;
}

/**
 * Starts fresh servers, sends the crasher, checks health, restarts every member (whatever the
 * input got logged is recovered) and checks again.
 */
export async function replayCrasher(crasher: CrasherFile, health: HealthOptions): Promise<ReplayResult> {
  const servers = await FuzzServers.start({ kind: crasher.servers, snapCount: crasher.snapCount });
  const runner = new PeerTarget(0);
  let checker: HealthChecker | null = null;
  try {
    checker = await HealthChecker.start(servers, health);
    const runs: CaseRun[] = [];
    let next = 0;
    const worker = async () => {
      while (next < crasher.connections.length) {
        const i = next++;
        runs[i] = await replayConnection(servers, crasher.target, crasher.connections[i]!, runner);
      }
    };
    await Promise.all(Array.from({ length: crasher.parallel ?? 1 }, worker));
    const failures = (await checker.check(1)).failures;
    let restartFailures: string[] = [];
    if (failures.length === 0) {
      try {
        await servers.restart();
        restartFailures = (await checker.check(2)).failures;
      } catch (err) {
        restartFailures = [`servers did not come back after a restart: ${(err as Error).message}`];
      }
    }
    return { runs, failures, restartFailures, output: servers.outputTails(30) };
  } finally {
    await runner.close();
    await checker?.close();
    await servers.destroy();
  }
}
