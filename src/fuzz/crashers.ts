import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runClientConnection } from './client-driver.js';
import { HealthChecker, type HealthOptions } from './health.js';
import { barrierFrame, type PeerClaim } from './peer-cases.js';
import { FuzzServers, phantomObserverSid, type ServerSetKind } from './servers.js';
import { clientRun, PeerTarget, resolvePeerCase, runPeerChunks, type CaseRun, type FuzzTarget, type MemberRole } from './targets.js';

// A crasher: the exact bytes that made a member exit or fail a check, one connection after
// another, with where they go. The fuzzer writes one file per crash it confirms; every file in
// test/fuzz/crashers/ is a regression test that replays it against fresh servers.

export interface CrasherConnection {
  /** The member the bytes go to. */
  member: MemberRole;
  /**
   * Peer connections: whom the live transport's hello claims to be (it is captured when the
   * test runs, so it follows hello format changes), followed by the inputs and a barrier; null
   * when the inputs carry their own opening (a broken hello, or none).
   */
  hello: PeerClaim | null;
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
  const inputs = run.hello !== null ? run.chunks.slice(1, -1) : run.chunks;
  return {
    member: run.member,
    hello: run.hello?.claim ?? null,
    handshake: run.handshake,
    inputs: inputs.map((c) => ({ what: c.what, hex: c.bytes.toString('hex') })),
  };
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

/** The sid a connection of a crasher goes to, and the sid its hello claims, on these servers now. */
async function placeConnection(servers: FuzzServers, c: CrasherConnection): Promise<{ sid: number; claimed: number; leader: number }> {
  const leader = (await servers.leaderSid()) ?? 1;
  const voters = servers.members.map((m) => m.sid);
  if (c.hello !== null) {
    const target = c.member === 'leader' ? 'leader' : 'follower';
    const placed = resolvePeerCase({ claim: c.hello, target, pick: 0 }, leader, voters);
    if (c.hello !== 'observer' && placed.claimed === phantomObserverSid) {
      throw new Error(`cannot send as the ${c.hello}: server ${leader} leads and no member below it can be dialled as it`);
    }
    return { sid: placed.target, claimed: placed.claimed, leader };
  }
  const sid = c.member === 'follower' ? voters.find((s) => s !== leader)! : c.member === 'leader' ? leader : 1;
  return { sid, claimed: 0, leader };
}

/** Sends one connection of a crasher, as the fuzzer did. */
export async function replayConnection(servers: FuzzServers, target: FuzzTarget, c: CrasherConnection, hellos = new PeerTarget(0)): Promise<CaseRun> {
  const { sid, claimed } = await placeConnection(servers, c);
  const inputs = c.inputs.map((i) => ({ what: i.what, bytes: Buffer.from(i.hex, 'hex') }));
  if (target === 'client') {
    const startedAt = Date.now();
    const outcome = await runClientConnection(servers.member(sid).clientPort, inputs, c.handshake, true);
    return clientRun(-1, sid, c.member, inputs, c.handshake, outcome, startedAt);
  }
  if (c.hello === null) return runPeerChunks(-1, servers, sid, c.member, null, inputs, inputs.length);
  const hello = await hellos.hello(claimed, sid);
  const chunks = [{ what: `hello as ${claimed}`, bytes: hello }, ...inputs, { what: 'barrier: a LOOKING notification', bytes: barrierFrame(claimed) }];
  return runPeerChunks(-1, servers, sid, c.member, { claim: c.hello, claimed }, chunks, inputs.length);
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
  let checker: HealthChecker | null = null;
  try {
    checker = await HealthChecker.start(servers, health);
    const runs: CaseRun[] = [];
    let next = 0;
    const worker = async () => {
      while (next < crasher.connections.length) {
        const i = next++;
        runs[i] = await replayConnection(servers, crasher.target, crasher.connections[i]!);
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
    await checker?.close();
    await servers.destroy();
  }
}
