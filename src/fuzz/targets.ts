import { clientCase, type ClientCorpus, type FuzzInput } from './client-cases.js';
import { runClientConnection, type ConnectionOutcome } from './client-driver.js';
import { barrierFrame, peerCase, type PeerCase, type PeerClaim } from './peer-cases.js';
import { runPeerConnection, type PeerConnectionOutcome } from './peer-driver.js';
import { captureHello } from './peer-wire.js';
import { phantomObserverSid, type FuzzServers } from './servers.js';

// Where a case goes and what exactly is written: the two targets behind one interface, so that
// a run, a crash's confirmation and a regression test send bytes the same way.

export type FuzzTarget = 'client' | 'peer';
export type MemberRole = 'standalone' | 'leader' | 'follower';

export function roleOf(servers: FuzzServers, sid: number, leader: number): MemberRole {
  return servers.kind === 'standalone' ? 'standalone' : sid === leader ? 'leader' : 'follower';
}

/** A case as it ran: every byte written, to whom, and what came of it. */
export interface CaseRun {
  index: number;
  /** The member the connection went to, and its role then. */
  sid: number;
  member: MemberRole;
  /**
   * Peer cases that opened with the transport's own hello: whom it claimed to be. The first chunk
   * is that hello and the last the barrier; the inputs are the chunks between.
   */
  hello: { claim: PeerClaim; claimed: number } | null;
  /** Client cases: whether the first chunk is a handshake the server should answer. */
  handshake: boolean;
  chunks: FuzzInput[];
  inputs: number;
  delivered: number;
  closedByServer: boolean;
  /** Every input was answered: a reply to each request (client), the barrier's answer (peer). */
  answered: boolean;
  idle: boolean;
  refused: boolean;
  /** Client cases: error codes of the replies after the handshake. */
  errors: number[];
  startedAt: number;
  endedAt: number;
}

/** What a batch needs to know about the servers now (who leads), fetched once per batch. */
export interface BatchContext {
  leader: number;
  /** The member a client-port case goes to. */
  clientSid: number;
}

export interface TargetRunner {
  readonly target: FuzzTarget;
  /** Inputs in case `index` (the hello and barrier of a peer case are not counted). */
  inputCount(index: number): number;
  run(index: number, servers: FuzzServers, context: BatchContext): Promise<CaseRun>;
}

export class ClientTarget implements TargetRunner {
  readonly target = 'client';
  private readonly cache = new Map<number, ReturnType<typeof clientCase>>();

  constructor(
    private readonly seed: number,
    private readonly corpus: ClientCorpus,
  ) {}

  private caseAt(index: number) {
    let c = this.cache.get(index);
    if (c === undefined) {
      c = clientCase(this.seed, index, this.corpus);
      this.cache.set(index, c);
    }
    return c;
  }

  inputCount(index: number): number {
    return this.caseAt(index).inputs.length;
  }

  async run(index: number, servers: FuzzServers, context: BatchContext): Promise<CaseRun> {
    const c = this.caseAt(index);
    this.cache.delete(index);
    const member = servers.member(context.clientSid);
    const startedAt = Date.now();
    const outcome = await runClientConnection(member.clientPort, c.inputs, c.shape === 'session');
    return clientRun(index, member.sid, roleOf(servers, member.sid, context.leader), c.inputs, c.shape === 'session', outcome, startedAt);
  }
}

export function clientRun(index: number, sid: number, member: MemberRole, inputs: FuzzInput[], handshake: boolean, outcome: ConnectionOutcome, startedAt: number): CaseRun {
  return {
    index,
    sid,
    member,
    hello: null,
    handshake,
    chunks: inputs,
    inputs: inputs.length,
    delivered: outcome.delivered,
    closedByServer: outcome.closedByServer,
    answered: handshake && outcome.replies >= inputs.length,
    idle: outcome.idle,
    refused: outcome.refused,
    errors: outcome.errors,
    startedAt,
    endedAt: Date.now(),
  };
}

/** The member a peer case dials and the sid its hello claims, given who leads. */
export function resolvePeerCase(c: Pick<PeerCase, 'claim' | 'target' | 'pick'>, leader: number, voters: readonly number[]): { target: number; claimed: number } {
  const followers = voters.filter((s) => s !== leader);
  if (c.claim === 'leader') {
    // Only a higher sid may dial a member: the leader can be impersonated to followers below it.
    const below = followers.filter((s) => s < leader);
    if (below.length > 0) return { target: below[c.pick % below.length]!, claimed: leader };
  }
  if (c.claim === 'voter') {
    const targets = c.target === 'leader' ? [leader] : followers;
    const pairs: { target: number; claimed: number }[] = [];
    for (const t of targets) for (const s of voters) if (s > t && s !== leader) pairs.push({ target: t, claimed: s });
    if (pairs.length > 0) return pairs[c.pick % pairs.length]!;
  }
  const targets = c.target === 'leader' ? [leader] : followers;
  return { target: targets[c.pick % targets.length]!, claimed: phantomObserverSid };
}

export class PeerTarget implements TargetRunner {
  readonly target = 'peer';
  private readonly hellos = new Map<string, Promise<Buffer>>();
  private readonly cache = new Map<number, PeerCase>();

  constructor(private readonly seed: number) {}

  private caseAt(index: number): PeerCase {
    let c = this.cache.get(index);
    if (c === undefined) {
      c = peerCase(this.seed, index);
      this.cache.set(index, c);
    }
    return c;
  }

  inputCount(index: number): number {
    const c = this.caseAt(index);
    return c.inputs.length + (c.hello.kind === 'mutated' ? 1 : 0);
  }

  /** The transport's hello for `claimed` dialling `target`, captured once per pair. */
  hello(claimed: number, target: number): Promise<Buffer> {
    const key = `${claimed}>${target}`;
    let hello = this.hellos.get(key);
    if (hello === undefined) {
      hello = captureHello(claimed, target);
      this.hellos.set(key, hello);
    }
    return hello;
  }

  async run(index: number, servers: FuzzServers, context: BatchContext): Promise<CaseRun> {
    const c = this.caseAt(index);
    const inputs = this.inputCount(index);
    this.cache.delete(index);
    const voters = servers.members.map((m) => m.sid);
    const { target, claimed } = resolvePeerCase(c, context.leader, voters);
    const chunks: FuzzInput[] = [];
    if (c.hello.kind !== 'none') {
      const hello = await this.hello(claimed, target);
      if (c.hello.kind === 'valid') chunks.push({ what: `hello as ${claimed}`, bytes: hello });
      else chunks.push(c.hello.mutate(hello));
    }
    chunks.push(...c.inputs);
    const barrier = c.hello.kind === 'valid';
    if (barrier) chunks.push({ what: 'barrier: a LOOKING notification', bytes: barrierFrame(claimed) });
    const hello = barrier ? { claim: claimed === phantomObserverSid ? 'observer' as const : c.claim, claimed } : null;
    return runPeerChunks(index, servers, target, roleOf(servers, target, context.leader), hello, chunks, inputs);
  }
}

/** Writes the chunks to member `target`'s election port; with `hello`, the last chunk is a barrier. */
export async function runPeerChunks(index: number, servers: FuzzServers, target: number, role: MemberRole, hello: CaseRun['hello'], chunks: FuzzInput[], inputs: number): Promise<CaseRun> {
  const member = servers.member(target);
  const startedAt = Date.now();
  const outcome: PeerConnectionOutcome = await runPeerConnection(member.electionPort, chunks.map((c) => c.bytes), hello !== null);
  return {
    index,
    sid: target,
    member: role,
    hello,
    handshake: false,
    chunks,
    inputs,
    delivered: outcome.refused ? 0 : inputs,
    closedByServer: outcome.closedByMember,
    answered: outcome.answered,
    idle: outcome.idle,
    refused: outcome.refused,
    errors: [],
    startedAt,
    endedAt: Date.now(),
  };
}

