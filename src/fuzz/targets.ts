import { scaled } from '../testing/wait.js';
import { clientCase, type ClientCorpus, type FuzzInput } from './client-cases.js';
import { runClientConnection, type ConnectionOutcome } from './client-driver.js';
import { barrierFrame, peerCase, type PeerCase, type PeerClaim } from './peer-cases.js';
import { dialAndRun, DialInbox, runOpening, type HandshakeVerdict, type PeerConnectionOutcome } from './peer-driver.js';
import { fuzzedFrames, handshakeState, type OpeningPlan } from './peer-opening.js';
import { dialledObserverSid, fuzzPeerSecret, phantomObserverSid, type FuzzServers } from './servers.js';

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
  /** Peer cases: whom the fuzzer was, how the connection opened, and what the member made of it. */
  peer: PeerRun | null;
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

export interface PeerRun {
  claim: PeerClaim;
  /** The sid the fuzzer was on this connection. */
  claimed: number;
  opening: OpeningPlan;
  /** The member's handshake frames as they came (its nonce varies from run to run). */
  received: FuzzInput[];
  /** What the member made of the opening, as the probe showed. */
  handshake: HandshakeVerdict;
  /** The messages after the opening (the chunks hold every byte written, in order). */
  messages: FuzzInput[];
  /** Handshake misbehaviour of the member: it took an opening it must refuse, or its own proof was wrong. */
  violations: string[];
}

/** What a batch needs to know about the servers now (who leads), fetched once per batch. */
export interface BatchContext {
  leader: number;
  /** The member a client-port case goes to. */
  clientSid: number;
}

export interface TargetRunner {
  readonly target: FuzzTarget;
  /** Inputs in case `index` (of a peer case: its messages and the handshake frames it breaks). */
  inputCount(index: number): number;
  run(index: number, servers: FuzzServers, context: BatchContext): Promise<CaseRun>;
  /** Releases what the runner holds (the peer target's listener). */
  close(): Promise<void>;
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

  async close(): Promise<void> {
    this.cache.clear();
  }
}

export function clientRun(index: number, sid: number, member: MemberRole, inputs: FuzzInput[], handshake: boolean, outcome: ConnectionOutcome, startedAt: number): CaseRun {
  return {
    index,
    sid,
    member,
    peer: null,
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

/**
 * The member a peer case connects with and the sid the fuzzer is on it, given who leads. When a
 * member dials the fuzzer, the fuzzer is the observer everyone dials.
 */
export function resolvePeerCase(c: Pick<PeerCase, 'claim' | 'target' | 'pick'> & { side: OpeningPlan['side'] }, leader: number, voters: readonly number[]): { target: number; claimed: number } {
  const followers = voters.filter((s) => s !== leader);
  const targets = c.target === 'leader' ? [leader] : followers;
  if (c.side === 'answer') return { target: targets[c.pick % targets.length]!, claimed: dialledObserverSid };
  if (c.claim === 'leader') {
    // Only a higher sid may dial a member: the leader can be impersonated to followers below it.
    const below = followers.filter((s) => s < leader);
    if (below.length > 0) return { target: below[c.pick % below.length]!, claimed: leader };
  }
  if (c.claim === 'voter') {
    const pairs: { target: number; claimed: number }[] = [];
    for (const t of targets) for (const s of voters) if (s > t && s !== leader) pairs.push({ target: t, claimed: s });
    if (pairs.length > 0) return pairs[c.pick % pairs.length]!;
  }
  return { target: targets[c.pick % targets.length]!, claimed: phantomObserverSid };
}

/** How long a case that answers a member's dial waits for one (members redial within 2 s). */
const memberDialWaitMs = 4000;

export class PeerTarget implements TargetRunner {
  readonly target = 'peer';
  private readonly cache = new Map<number, PeerCase>();
  private inbox: Promise<DialInbox> | null = null;
  /** The last case started between two ids, by "claimed>target". */
  private readonly pairs = new Map<string, Promise<void>>();

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
    return c.inputs.length + fuzzedFrames(c.opening);
  }

  /** The listener members' dials to the dialled observer arrive at, started on first use. */
  dialInbox(servers: FuzzServers): Promise<DialInbox> {
    this.inbox ??= DialInbox.start(servers.dialledObserverPort);
    return this.inbox;
  }

  async run(index: number, servers: FuzzServers, context: BatchContext): Promise<CaseRun> {
    const c = this.caseAt(index);
    const inputs = this.inputCount(index);
    this.cache.delete(index);
    const voters = servers.members.map((m) => m.sid);
    const { target, claimed } = resolvePeerCase({ ...c, side: c.opening.side }, context.leader, voters);
    const claim = claimed === phantomObserverSid || claimed === dialledObserverSid ? 'observer' : c.claim;
    return this.oneAtATime(`${claimed}>${target}`, () => runPeerCase(index, servers, this, { target, role: roleOf(servers, target, context.leader), claim, claimed }, c.opening, c.inputs, inputs));
  }

  /**
   * Runs cases between the same two ids one after another: a member takes a new proven connection
   * from a peer in place of the one it has, so two at once would cut each other off.
   */
  private async oneAtATime<T>(pair: string, run: () => Promise<T>): Promise<T> {
    const before = this.pairs.get(pair) ?? Promise.resolve();
    const mine = before.then(run);
    const settled = mine.then(() => undefined, () => undefined);
    this.pairs.set(pair, settled);
    try {
      return await mine;
    } finally {
      if (this.pairs.get(pair) === settled) this.pairs.delete(pair);
    }
  }

  async close(): Promise<void> {
    const inbox = this.inbox;
    this.inbox = null;
    if (inbox !== null) await (await inbox).close();
  }
}

export interface PeerPlacement {
  target: number;
  role: MemberRole;
  claim: PeerClaim;
  claimed: number;
}

/** Plays one peer case: the opening with member `target` (dialling it, or answering its dial), then the messages. */
export async function runPeerCase(index: number, servers: FuzzServers, runner: PeerTarget, at: PeerPlacement, opening: OpeningPlan, messages: FuzzInput[], inputs: number): Promise<CaseRun> {
  const member = servers.member(at.target);
  const voters = servers.members.map((m) => m.sid);
  const probe = { what: 'probe: a LOOKING notification', bytes: barrierFrame(at.claimed) };
  const startedAt = Date.now();
  let outcome: PeerConnectionOutcome;
  if (opening.side === 'dial') {
    const state = handshakeState(opening, fuzzPeerSecret, { dialer: at.claimed, acceptor: at.target }, voters);
    outcome = await dialAndRun(member.electionPort, opening, state, messages, probe);
  } else {
    const state = handshakeState(opening, fuzzPeerSecret, { dialer: at.target, acceptor: at.claimed }, voters);
    const dial = await (await runner.dialInbox(servers)).take(at.target, scaled(memberDialWaitMs));
    if (dial === null) {
      outcome = { written: [], received: [], handshake: 'unknown', answered: false, closedByMember: false, idle: false, refused: true, framesReceived: 0, problems: [] };
    } else {
      state.hello = dial.hello;
      outcome = await runOpening(dial.conn, opening, state, messages, probe);
      outcome.received.unshift({ what: 'hello received', bytes: dial.helloBytes });
    }
  }
  const violations = [...outcome.problems];
  if (opening.expect === 'refused' && outcome.handshake === 'accepted') {
    violations.push(`server ${at.target} took a connection it must refuse (${opening.side === 'dial' ? 'dialled' : 'dialling'}: ${opening.shape}: ${outcome.written.map((w) => w.what).join(', ')})`);
  }
  return {
    index,
    sid: at.target,
    member: at.role,
    peer: { claim: at.claim, claimed: at.claimed, opening, received: outcome.received, handshake: outcome.handshake, messages, violations },
    handshake: false,
    chunks: outcome.written,
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
