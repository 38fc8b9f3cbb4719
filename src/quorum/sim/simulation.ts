import type { QuorumEffect } from '../effects.js';
import type { QuorumEvent } from '../events.js';
import { defaultQuorumLimits, type QuorumLimits } from '../limits.js';
import { checkPeerMessage, peerMessageTuple } from '../message-schema.js';
import type { Origin, PeerMessage } from '../messages.js';
import { QuorumPeer } from '../peer.js';
import { makeQuorumView, quorumSize, type QuorumView } from '../quorum-view.js';
import { zxidToHex, type Zxid } from '../zxid.js';
import { VirtualDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { HashChainMachine, decodeSimWrite, encodeSimWrite, hashChainPayloads, sessionKeyBase, simSessionId } from './hash-chain.js';
import { VirtualNetwork, type Delivery, type NetworkFaults } from './network.js';
import { Prng } from './prng.js';
import { SimSessions, type SessionSimHost, type SessionSimMember } from './sim-sessions.js';

/** A broken safety or liveness property: the seed that found it replays it exactly. */
export class SimViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimViolation';
  }
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new SimViolation(message);
}

/** Simulator time units per core tick; message and fsync delays are drawn in these units. */
export const simTimeUnitsPerTick = 10;

/** Small enough that every simulated snapshot (12 bytes and 5 per key) travels in several chunks. */
export const simSnapChunkBytes = 16;

/** Per-seed fault intensities ("swarm testing": each seed stresses a different mix). */
export interface FaultPlan {
  readonly crashChancePerTick: number;
  readonly partitionChancePerTick: number;
  readonly resetChancePerTick: number;
  readonly pauseChancePerTick: number;
  readonly writesPerTickMean: number;
  readonly fsyncDelayMax: number;
  readonly network: NetworkFaults;
}

export const quietFaultPlan: FaultPlan = Object.freeze({
  crashChancePerTick: 0,
  partitionChancePerTick: 0,
  resetChancePerTick: 0,
  pauseChancePerTick: 0,
  writesPerTickMean: 0,
  fsyncDelayMax: 4,
  network: Object.freeze({
    delayMin: 1,
    delayMax: 3,
    slowChance: 0,
    slowFactor: 1,
    electionDropChance: 0,
    electionDuplicateChance: 0,
  }),
});

export function drawFaultPlan(prng: Prng): FaultPlan {
  return {
    crashChancePerTick: prng.float() * 0.03,
    partitionChancePerTick: prng.float() * 0.02,
    resetChancePerTick: prng.float() * 0.03,
    pauseChancePerTick: prng.float() * 0.01,
    writesPerTickMean: 0.2 + prng.float() * 1.5,
    fsyncDelayMax: prng.range(2, 25),
    network: {
      delayMin: 1,
      delayMax: prng.range(2, 8),
      slowChance: prng.float() * 0.1,
      slowFactor: prng.range(1, 6),
      electionDropChance: prng.float() * 0.2,
      electionDuplicateChance: prng.float() * 0.1,
    },
  };
}

export interface SimOptions {
  readonly seed: number;
  /** Voters; drawn from {3, 5} by the seed when absent. */
  readonly voters?: number;
  /** Observers; drawn from {0, 1} by the seed when absent. */
  readonly observers?: number;
  readonly limits?: Partial<QuorumLimits>;
  /** Fault plan; drawn by the seed when absent. Use `quietFaultPlan` for scripted scenarios. */
  readonly faults?: FaultPlan;
  /** Keep the last trace lines for failure reports. */
  readonly traceLines?: number;
}

type WriteStatus = 'pending' | 'acked' | 'rejected' | 'unknown';

interface WriteRecord {
  readonly writeId: number;
  readonly sid: number;
  status: WriteStatus;
  zxid: Zxid | null;
}

type PendingRequest =
  | { readonly kind: 'write'; readonly writeId: number }
  | { readonly kind: 'sync'; readonly mustSeeCount: number; done: boolean };

export interface SimNode {
  readonly sid: number;
  readonly voter: boolean;
  up: boolean;
  incarnation: number;
  pausedUntilTick: number;
  backlog: QuorumEvent[];
  disk: VirtualDisk;
  sm: HashChainMachine;
  peer: QuorumPeer;
  fsyncStalled: boolean;
  readonly pending: Map<number, PendingRequest>;
  /** Events the shell owes the core after the current step (the session table as txns apply). */
  coreEvents: QuorumEvent[];
  snapshotsInstalled: number;
  truncations: number;
}

interface CanonEntry {
  readonly zxid: Zxid;
  readonly writeId: number;
  readonly hash: number;
}

type SimEvent =
  | { time: number; seq: number; kind: 'tick' }
  | { time: number; seq: number; kind: 'deliver'; delivery: Delivery }
  | { time: number; seq: number; kind: 'fsync'; sid: number; incarnation: number }
  | { time: number; seq: number; kind: 'local'; sid: number; incarnation: number; event: QuorumEvent };

export interface SimStats {
  events: number;
  ticks: number;
  crashes: number;
  partitions: number;
  resets: number;
  pauses: number;
  writesSubmitted: number;
  writesAcked: number;
  writesRejected: number;
  writesUnknown: number;
  committed: number;
  epochsEstablished: number;
  snapshotsInstalled: number;
  truncations: number;
  sessionsOpened: number;
  sessionsExpired: number;
  revalidationsValid: number;
}

export interface SimReport {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure: string | null;
  readonly voters: number;
  readonly observers: number;
  readonly stats: SimStats;
  readonly trace: readonly string[];
}

/**
 * N servers in one process: the real `QuorumPeer` cores over a virtual network, virtual
 * disks and a virtual clock, every choice drawn from one seeded PRNG. Invariants are
 * checked after every event.
 */
export class Simulation {
  readonly prng: Prng;
  readonly view: QuorumView;
  readonly limits: QuorumLimits;
  readonly network: VirtualNetwork;
  readonly nodes = new Map<number, SimNode>();
  faults: FaultPlan;
  now = 0;
  tickCount = 0;
  /** The one true applied sequence: every server's applied txns must be a prefix of it. */
  readonly canon: CanonEntry[] = [];
  readonly writes = new Map<number, WriteRecord>();
  readonly stats: SimStats = {
    events: 0, ticks: 0, crashes: 0, partitions: 0, resets: 0, pauses: 0, writesSubmitted: 0, writesAcked: 0,
    writesRejected: 0, writesUnknown: 0, committed: 0, epochsEstablished: 0, snapshotsInstalled: 0, truncations: 0,
    sessionsOpened: 0, sessionsExpired: 0, revalidationsValid: 0,
  };
  /** Clients with sessions, and the session liveness properties. */
  readonly sessions: SimSessions;
  /** Hook for scenario tests: every effect, after the simulator performed it. */
  onEffect: ((sid: number, effect: QuorumEffect) => void) | null = null;
  private readonly queue = new EventQueue<SimEvent>();
  private seq = 0;
  private nextWriteId = 1;
  private nextRequestId = 1;
  private readonly canonWriteIds = new Set<number>();
  private readonly zxidWriteId = new Map<Zxid, number>();
  private readonly establishedLeader = new Map<bigint, number>();
  private readonly trace: string[] = [];
  private readonly traceLines: number;
  private healAtTick = -1;
  private forcedFaultTick = -1;
  private readonly restartAtTick = new Map<number, number>();

  constructor(readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    const voters = options.voters ?? (this.prng.chance(0.5) ? 3 : 5);
    const observers = options.observers ?? (this.prng.chance(0.3) ? 1 : 0);
    const voterSids = Array.from({ length: voters }, (_, i) => i + 1);
    const observerSids = Array.from({ length: observers }, (_, i) => voters + i + 1);
    this.view = makeQuorumView(voterSids, observerSids);
    this.limits = {
      ...defaultQuorumLimits,
      pingIntervalTicks: 2,
      notificationIntervalTicksMax: 16,
      committedLogWindowMax: this.prng.range(4, 64),
      proposalsOutstandingMax: this.prng.range(2, 50),
      writeBacklogMax: 100,
      snapChunkBytes: simSnapChunkBytes,
      sessionBucketTicks: 5,
      ...options.limits,
    };
    this.sessions = new SimSessions(this.sessionHost());
    this.faults = options.faults ?? drawFaultPlan(this.prng);
    this.traceLines = options.traceLines ?? 0;
    this.network = new VirtualNetwork(this.prng, this.faults.network, (time, delivery) =>
      this.push({ time, seq: 0, kind: 'deliver', delivery }),
    );
    for (const sid of [...voterSids, ...observerSids]) this.nodes.set(sid, this.createNode(sid, voterSids.includes(sid)));
  }

  // ---- whole runs ----------------------------------------------------------------------------

  /** Safety phase with faults, then the liveness phase; never throws, reports instead. */
  run(safetyTicks: number, livenessTicksMax: number): SimReport {
    let failure: string | null = null;
    try {
      this.start();
      // Every run gets at least one crash, partition or pause, whatever the drawn intensities.
      this.forcedFaultTick = this.prng.range(5, Math.max(5, safetyTicks - 5));
      this.runTicks(safetyTicks, true);
      this.runLiveness(livenessTicksMax);
    } catch (error) {
      failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (!(error instanceof SimViolation) && error instanceof Error && error.stack) failure += `\n${error.stack}`;
    }
    this.finishStats();
    return {
      seed: this.options.seed,
      ok: failure === null,
      failure,
      voters: this.view.voters.length,
      observers: this.view.observers.length,
      stats: { ...this.stats },
      trace: [...this.trace],
    };
  }

  /** Heal everything, then demand a leader, fresh commits and convergence within a bound. */
  runLiveness(livenessTicksMax: number): void {
    this.healAll();
    const deadline = this.tickCount + livenessTicksMax;
    const remaining = (): number => deadline - this.tickCount;
    check(this.runUntil(() => this.stableLeader() !== null, remaining()), `liveness: no stable leader within ${livenessTicksMax} ticks after heal`);
    // Fresh writes on the healed cluster must commit. A write may still fail once if a link
    // reset from the safety phase lands late; it is resubmitted, as a client would.
    const fresh: number[] = [];
    for (let i = 0; i < 5; i++) fresh.push(this.write(this.prng.pick([...this.nodes.keys()])));
    const settle = (): boolean => {
      for (let i = 0; i < fresh.length; i++) {
        const status = this.writes.get(fresh[i]!)!.status;
        if (status === 'unknown' || status === 'rejected') fresh[i] = this.write(this.prng.pick([...this.nodes.keys()]));
      }
      return fresh.every((id) => this.writes.get(id)!.status === 'acked');
    };
    check(this.runUntil(settle, remaining()), `liveness: fresh writes not committed in time: ${fresh.map((id) => this.writes.get(id)!.status).join(',')}`);
    check(this.runUntil(() => this.converged(), remaining()), 'liveness: servers did not converge on the committed log');
    this.checkSyncs(remaining());
    // (c) under a stable leader, sessions nobody touches expire within their timeout and a bucket, plus time to commit the close.
    const within = this.sessions.silenceSome() + this.limits.sessionBucketTicks + 40;
    check(this.runUntil(() => this.sessions.silentSessionsClosed(), within), `liveness: silent sessions not expired within ${within} ticks: ${this.sessions.silentOpen()}`);
  }

  // ---- scripted control (scenario tests) -----------------------------------------------------

  start(): void {
    for (const node of this.nodes.values()) this.feed(node, { kind: 'start' });
    this.push({ time: this.now + simTimeUnitsPerTick, seq: 0, kind: 'tick' });
  }

  node(sid: number): SimNode {
    const node = this.nodes.get(sid);
    check(node !== undefined, `no node ${sid}`);
    return node;
  }

  /** Runs `ticks` ticks of simulated time (with random faults and workload when `chaos`). */
  runTicks(ticks: number, chaos = false): void {
    const end = this.tickCount + ticks;
    while (this.tickCount < end) this.stepEvent(chaos);
  }

  /** Runs until `done()` holds (checked after every event) or `ticks` pass; returns whether it held. */
  runUntil(done: () => boolean, ticks: number): boolean {
    const end = this.tickCount + ticks;
    while (!done()) {
      if (this.tickCount >= end) return false;
      this.stepEvent(false);
    }
    return true;
  }

  /**
   * A client write of key := value on `sid` (random ones by default); returns its write id (see
   * `writeStatus`). `afterStep`: submitted once the current step's effects are all performed.
   */
  write(sid: number, key = this.prng.int(16), value = this.prng.next(), afterStep = false): number {
    const node = this.node(sid);
    const writeId = this.nextWriteId++;
    this.writes.set(writeId, { writeId, sid, status: 'pending', zxid: null });
    this.stats.writesSubmitted++;
    if (!node.up) {
      this.writes.get(writeId)!.status = 'unknown';
      return writeId;
    }
    const requestId = this.nextRequestId++;
    node.pending.set(requestId, { kind: 'write', writeId });
    const payload = encodeSimWrite({ writeId, key, value });
    if (afterStep) node.coreEvents.push({ kind: 'clientWrite', requestId, payload });
    else this.feed(node, { kind: 'clientWrite', requestId, payload });
    return writeId;
  }

  /** What a client does to its session on `sid`: a touch batch, or a reconnect (revalidation). */
  sessionEvent(sid: number, event: QuorumEvent & { kind: 'sessionTouches' | 'revalidateSession' }): void {
    this.feed(this.node(sid), event);
  }

  writeStatus(writeId: number): WriteStatus {
    return this.writes.get(writeId)?.status ?? 'unknown';
  }

  writeZxid(writeId: number): Zxid | null {
    return this.writes.get(writeId)?.zxid ?? null;
  }

  /** A client sync on `sid`: once done, the server must show every write acked before it began. */
  sync(sid: number): PendingRequest & { kind: 'sync' } {
    const node = this.node(sid);
    const requestId = this.nextRequestId++;
    const request = { kind: 'sync' as const, mustSeeCount: this.ackedPrefixCount(), done: false };
    node.pending.set(requestId, request);
    this.feed(node, { kind: 'clientSync', requestId });
    return request;
  }

  crash(sid: number, keepUnsynced: boolean | 'random' = 'random'): void {
    const node = this.node(sid);
    if (!node.up) return;
    this.stats.crashes++;
    this.log(`crash ${sid}`);
    node.up = false;
    node.incarnation++;
    node.backlog = [];
    node.pausedUntilTick = 0;
    node.coreEvents = [];
    this.sessions.crashed(sid);
    // A stalled fsync belongs to the dead process; the restarted one gets a working disk.
    node.fsyncStalled = false;
    if (keepUnsynced === 'random') node.disk.crash((n) => this.prng.int(n + 1));
    else node.disk.crash((n) => (keepUnsynced ? n : 0));
    this.failPending(node);
    for (const other of this.nodes.keys()) {
      // A process crash usually resets its TCP links at once; a machine crash does not.
      if (other !== sid) this.network.reset(this.now, sid, other, this.prng.chance(0.5) ? [other] : []);
    }
  }

  restart(sid: number): void {
    const node = this.node(sid);
    if (node.up) return;
    this.log(`restart ${sid}`);
    const sm = new HashChainMachine();
    if (node.disk.snapshot !== null) {
      sm.restore(node.disk.snapshot.zxid, node.disk.snapshot.data);
      this.checkAgainstCanon(node.sid, sm, 'restored snapshot');
    }
    node.sm = sm;
    node.peer = this.newPeer(sid, node.disk);
    node.up = true;
    this.sessions.unsettle([sid]);
    this.feed(node, { kind: 'sessionTable', sessions: sm.sessions() });
    this.feed(node, { kind: 'start' });
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.stats.partitions++;
    this.log(`partition ${groups.map((g) => g.join(',')).join(' | ')}`);
    this.network.partition(groups);
    this.sessions.unsettle(this.nodes.keys());
  }

  heal(): void {
    this.log('heal');
    this.network.heal(this.now);
    this.sessions.unsettle(this.nodes.keys());
  }

  /** Freezes a process (a long GC pause): its events queue up, including the ticks it misses. */
  pause(sid: number, ticks: number): void {
    const node = this.node(sid);
    if (!node.up) return;
    this.stats.pauses++;
    this.log(`pause ${sid} for ${ticks}`);
    node.pausedUntilTick = this.tickCount + ticks;
    this.sessions.unsettle([sid]);
  }

  stallFsync(sid: number, stalled: boolean): void {
    const node = this.node(sid);
    node.fsyncStalled = stalled;
    if (!stalled) this.maybeStartFsync(node);
  }

  /**
   * A message that `to` receives as if `from` had sent it, outside the network: for tests that
   * throw unexpected or forged (but well-formed) messages at a server in whatever state it is.
   */
  inject(to: number, from: number, msg: PeerMessage): void {
    this.log(`inject ${msg.type} ${from}->${to}`);
    this.feed(this.node(to), { kind: 'message', from, msg });
  }

  resetLink(a: number, b: number): void {
    this.stats.resets++;
    this.network.reset(this.now, a, b, [a, b]);
    this.sessions.unsettle([a, b]);
  }

  /** The leader every up server serves under, in one epoch, or null. */
  stableLeader(): number | null {
    let leader: number | null = null;
    let epoch = -1n;
    for (const node of this.nodes.values()) {
      if (!node.up || node.pausedUntilTick > this.tickCount || !node.peer.isServing) return null;
      const sid = node.peer.leaderSid;
      if (leader === null) {
        leader = sid;
        epoch = node.peer.epoch;
      } else if (sid !== leader || node.peer.epoch !== epoch) {
        return null;
      }
    }
    return leader;
  }

  converged(): boolean {
    const leader = this.stableLeader();
    if (leader === null) return false;
    const role = this.node(leader).peer.leaderRole;
    if (role === null || role.outstandingProposals !== 0) return false;
    for (const node of this.nodes.values()) if (node.sm.count !== this.canon.length) return false;
    return true;
  }

  // ---- event loop ----------------------------------------------------------------------------

  private push(event: SimEvent): void {
    event.seq = this.seq++;
    this.queue.push(event);
  }

  private stepEvent(chaos: boolean): void {
    const event = this.queue.pop();
    check(event !== undefined, 'simulator ran out of events');
    this.now = event.time;
    this.stats.events++;
    switch (event.kind) {
      case 'tick': this.onTick(chaos); break;
      case 'deliver': this.onDeliver(event.delivery); break;
      case 'fsync': this.onFsync(event.sid, event.incarnation); break;
      case 'local': {
        const node = this.node(event.sid);
        if (node.incarnation === event.incarnation) this.feed(node, event.event);
        break;
      }
    }
    this.checkInvariants();
  }

  private onTick(chaos: boolean): void {
    this.tickCount++;
    this.stats.ticks++;
    this.push({ time: this.now + simTimeUnitsPerTick, seq: 0, kind: 'tick' });
    if (chaos) this.injectFaults();
    this.scheduledRecoveries(chaos);
    const order = [...this.nodes.values()];
    for (let i = order.length - 1; i > 0; i--) {
      const j = this.prng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const node of order) {
      if (node.up && node.pausedUntilTick !== 0 && node.pausedUntilTick <= this.tickCount) this.resume(node);
      this.feed(node, { kind: 'tick' });
      this.checkSessionTable(node);
    }
    if (chaos) this.injectWorkload();
    this.sessions.onTick(chaos);
  }

  private onDeliver(delivery: Delivery): void {
    if (!this.network.isCurrent(delivery)) return;
    const node = this.node(delivery.to);
    if (delivery.item.kind === 'disconnected') this.feed(node, { kind: 'disconnected', peer: delivery.from });
    else this.feed(node, { kind: 'message', from: delivery.from, msg: delivery.item.msg });
  }

  private onFsync(sid: number, incarnation: number): void {
    const node = this.node(sid);
    if (node.incarnation !== incarnation || !node.up) return;
    const zxid = node.disk.completeFsync();
    if (zxid !== null) this.feed(node, { kind: 'durable', zxid });
    this.maybeStartFsync(node);
  }

  private maybeStartFsync(node: SimNode): void {
    if (!node.up || node.fsyncStalled || node.disk.fsyncInFlight || !node.disk.hasUnsynced) return;
    node.disk.startFsync();
    const delay = this.prng.range(1, this.faults.fsyncDelayMax);
    this.push({ time: this.now + delay, seq: 0, kind: 'fsync', sid: node.sid, incarnation: node.incarnation });
  }

  private feed(node: SimNode, event: QuorumEvent): void {
    if (!node.up) return;
    if (node.pausedUntilTick > this.tickCount) {
      node.backlog.push(event);
      return;
    }
    const idle = event.kind === 'tick' && node.peer.ticksUntilDue() > 1;
    const effects = node.peer.step(event);
    // The shell sleeps through ticks the core calls idle: they must really do nothing.
    check(!idle || effects.length === 0, `${node.sid}: a tick the core called idle had effects (${effects.map((e) => e.kind).join(', ')})`);
    for (const effect of effects) this.perform(node, effect);
    while (node.coreEvents.length > 0 && node.up) this.feed(node, node.coreEvents.shift()!);
  }

  /** The core's session table mirrors the state machine's. */
  private checkSessionTable(node: SimNode): void {
    if (!node.up || node.pausedUntilTick > this.tickCount) return;
    const table = node.sm.sessions().length;
    check(node.peer.sessions.sessionCount === table, `${node.sid}: core holds ${node.peer.sessions.sessionCount} sessions, state machine ${table}`);
  }

  private resume(node: SimNode): void {
    node.pausedUntilTick = 0;
    this.sessions.unsettle([node.sid]);
    const backlog = node.backlog;
    node.backlog = [];
    this.log(`resume ${node.sid} with ${backlog.length} queued events`);
    for (const event of backlog) this.feed(node, event);
  }

  // ---- the shell: performing effects ---------------------------------------------------------

  private perform(node: SimNode, effect: QuorumEffect): void {
    switch (effect.kind) {
      case 'send': this.performSend(node, effect.to, effect.msg); break;
      case 'disconnect':
        this.log(`${node.sid} disconnects ${effect.peer}: ${effect.reason}`);
        this.network.reset(this.now, node.sid, effect.peer, [effect.peer]);
        break;
      case 'persistTxns': this.performPersist(node, effect.entries); break;
      case 'truncateLog':
        node.disk.truncate(effect.zxid);
        node.truncations++;
        this.stats.truncations++;
        this.log(`${node.sid} truncate to ${zxidToHex(effect.zxid)}`);
        break;
      case 'persistAcceptedEpoch':
        check(effect.epoch >= node.disk.acceptedEpoch, `${node.sid}: acceptedEpoch went backwards`);
        node.disk.acceptedEpoch = effect.epoch;
        break;
      case 'persistCurrentEpoch':
        check(effect.epoch >= node.disk.currentEpoch, `${node.sid}: currentEpoch went backwards`);
        check(effect.epoch <= node.disk.acceptedEpoch, `${node.sid}: currentEpoch above acceptedEpoch`);
        node.disk.currentEpoch = effect.epoch;
        break;
      case 'installSnapshot': this.performInstallSnapshot(node, effect.zxid, effect.data); break;
      case 'apply': this.performApply(node, effect.zxid, effect.payload, effect.origin); break;
      case 'takeSnapshot': {
        const { zxid, data } = node.sm.snapshot();
        this.push({ time: this.now + 1, seq: 0, kind: 'local', sid: node.sid, incarnation: node.incarnation, event: { kind: 'snapshotTaken', zxid, data } });
        break;
      }
      case 'syncDone': this.performSyncDone(node, effect.requestId); break;
      case 'requestRejected': this.performRejected(node, effect.requestId); break;
      case 'roleChanged': this.performRoleChanged(node, effect); break;
      case 'expireSession': this.sessions.expired(node.sid, effect.sessionId); break;
      case 'sessionRevalidated': this.sessions.revalidated(node.sid, effect.sessionId, effect.valid); break;
    }
    this.onEffect?.(node.sid, effect);
  }

  /** Whatever the core sends must pass the receiver's schema check, and no SNAP chunk may exceed its limit. */
  private performSend(node: SimNode, to: number, msg: PeerMessage): void {
    const checked = checkPeerMessage(peerMessageTuple(msg));
    check(checked.ok, `${node.sid} sent a malformed ${msg.type}: ${checked.ok ? '' : checked.reason}`);
    check(msg.type !== 'snapChunk' || msg.data.length <= this.limits.snapChunkBytes, `${node.sid} sent a SNAP chunk over ${this.limits.snapChunkBytes} bytes`);
    this.sessions.sent(node.sid, msg);
    this.network.send(this.now, node.sid, to, msg);
  }

  private performPersist(node: SimNode, entries: readonly { zxid: Zxid; payload: Uint8Array }[]): void {
    for (const entry of entries) {
      // One zxid, one txn, everywhere: epochs are unique to one leader.
      const writeId = decodeSimWrite(entry.payload).writeId;
      const known = this.zxidWriteId.get(entry.zxid);
      check(known === undefined || known === writeId, `zxid ${zxidToHex(entry.zxid)} names two txns (${known}, ${writeId})`);
      this.zxidWriteId.set(entry.zxid, writeId);
    }
    node.disk.append(entries as never);
    this.maybeStartFsync(node);
  }

  private performInstallSnapshot(node: SimNode, zxid: Zxid, data: Uint8Array): void {
    check(zxid >= node.sm.zxid, `${node.sid}: snapshot ${zxidToHex(zxid)} older than applied ${zxidToHex(node.sm.zxid)}`);
    node.disk.installSnapshot(zxid, data);
    node.sm.restore(zxid, data);
    node.snapshotsInstalled++;
    this.stats.snapshotsInstalled++;
    this.log(`${node.sid} install snapshot ${zxidToHex(zxid)}`);
    this.checkAgainstCanon(node.sid, node.sm, 'installed snapshot');
    node.coreEvents.push({ kind: 'sessionTable', sessions: node.sm.sessions() });
  }

  private performApply(node: SimNode, zxid: Zxid, payload: Uint8Array, origin: Origin | null): void {
    check(zxid > node.sm.zxid, `${node.sid}: applied ${zxidToHex(zxid)} after ${zxidToHex(node.sm.zxid)}`);
    const index = node.sm.count;
    node.sm.apply(zxid, payload, origin);
    const write = decodeSimWrite(payload);
    const writeId = write.writeId;
    if (write.key >= sessionKeyBase) {
      const sessionId = simSessionId(write.key - sessionKeyBase);
      node.coreEvents.push(write.value > 0 ? { kind: 'sessionCreated', sessionId, timeoutMs: write.value } : { kind: 'sessionClosed', sessionId });
    }
    if (index < this.canon.length) {
      const canon = this.canon[index]!;
      check(canon.zxid === zxid && canon.hash === node.sm.hash,
        `${node.sid}: applied #${index} = ${zxidToHex(zxid)} (write ${writeId}) but others applied ${zxidToHex(canon.zxid)} (write ${canon.writeId})`);
    } else {
      check(index === this.canon.length, 'applied sequence skipped an index');
      check(!this.canonWriteIds.has(writeId), `write ${writeId} applied twice`);
      check(this.writes.get(writeId)?.status !== 'rejected', `write ${writeId} was rejected yet applied`);
      this.canon.push({ zxid, writeId, hash: node.sm.hash });
      this.canonWriteIds.add(writeId);
      this.sessions.canonApplied(write.key, write.value);
    }
    this.checkQuorumDurable(zxid);
    if (origin !== null && origin.sid === node.sid) this.completeWrite(node, origin.requestId, writeId, zxid);
  }

  /** Whatever any server applies must already survive any crash at a quorum of voters. */
  private checkQuorumDurable(zxid: Zxid): void {
    let holders = 0;
    for (const sid of this.view.voters) if (this.node(sid).disk.holdsDurably(zxid)) holders++;
    check(holders >= quorumSize(this.view), `applied ${zxidToHex(zxid)} is durable at only ${holders} voters`);
  }

  private completeWrite(node: SimNode, requestId: number, writeId: number, zxid: Zxid): void {
    const pending = node.pending.get(requestId);
    if (pending === undefined) return;
    check(pending.kind === 'write' && pending.writeId === writeId, `${node.sid}: request ${requestId} answered by write ${writeId}`);
    node.pending.delete(requestId);
    const record = this.writes.get(writeId)!;
    record.status = 'acked';
    record.zxid = zxid;
  }

  private performSyncDone(node: SimNode, requestId: number): void {
    const pending = node.pending.get(requestId);
    if (pending === undefined) return;
    check(pending.kind === 'sync', `${node.sid}: syncDone for a write`);
    node.pending.delete(requestId);
    pending.done = true;
  }

  private performRejected(node: SimNode, requestId: number): void {
    const pending = node.pending.get(requestId);
    if (pending === undefined) return;
    node.pending.delete(requestId);
    if (pending.kind !== 'write') return;
    check(!this.canonWriteIds.has(pending.writeId), `write ${pending.writeId} rejected after being applied`);
    this.writes.get(pending.writeId)!.status = 'rejected';
  }

  private performRoleChanged(node: SimNode, effect: QuorumEffect & { kind: 'roleChanged' }): void {
    this.log(`${node.sid} ${effect.role}${effect.serving ? ' serving' : ''} leader=${effect.leader} epoch=${effect.epoch}`);
    // Leaving or entering a role drops client connections: outcomes become unknown.
    this.failPending(node);
    this.sessions.roleChanged(node.sid);
    if (effect.role !== 'leading' || !effect.serving) return;
    const other = this.establishedLeader.get(effect.epoch);
    check(other === undefined || other === node.sid, `epoch ${effect.epoch} established by both ${other} and ${node.sid}`);
    this.establishedLeader.set(effect.epoch, node.sid);
    this.stats.epochsEstablished++;
  }

  private failPending(node: SimNode): void {
    for (const pending of node.pending.values()) {
      if (pending.kind === 'write') this.writes.get(pending.writeId)!.status = 'unknown';
    }
    node.pending.clear();
  }

  // ---- invariants ----------------------------------------------------------------------------

  private checkInvariants(): void {
    let servingLeaders = 0;
    const leaderEpochs = new Set<bigint>();
    for (const node of this.nodes.values()) {
      if (!node.up) continue;
      const peer = node.peer;
      check(node.sm.zxid === peer.appliedZxid, `${node.sid}: state machine at ${zxidToHex(node.sm.zxid)}, core at ${zxidToHex(peer.appliedZxid)}`);
      this.checkAgainstCanon(node.sid, node.sm, 'state');
      check(peer.lastLoggedZxid === node.disk.lastZxid, `${node.sid}: core logged ${zxidToHex(peer.lastLoggedZxid)}, disk ${zxidToHex(node.disk.lastZxid)}`);
      check(peer.durableZxid <= node.disk.durableZxid, `${node.sid}: core believes ${zxidToHex(peer.durableZxid)} durable, disk has ${zxidToHex(node.disk.durableZxid)}`);
      check(peer.acceptedEpoch === node.disk.acceptedEpoch && peer.currentEpoch === node.disk.currentEpoch, `${node.sid}: epochs differ from disk`);
      if (peer.roleName === 'leading' && peer.isServing) {
        servingLeaders++;
        check(!leaderEpochs.has(peer.epoch), `two serving leaders in epoch ${peer.epoch}`);
        leaderEpochs.add(peer.epoch);
      }
    }
    check(servingLeaders <= this.nodes.size, 'impossible leader count');
  }

  private checkAgainstCanon(sid: number, sm: HashChainMachine, what: string): void {
    check(sm.count <= this.canon.length, `${sid}: ${what} has ${sm.count} txns, more than were ever applied`);
    if (sm.count === 0) return;
    const canon = this.canon[sm.count - 1]!;
    check(canon.hash === sm.hash && canon.zxid === sm.zxid, `${sid}: ${what} differs from the replay of the committed log at #${sm.count - 1}`);
  }

  /** Canon entries up to the last acked write: a sync begun now must see at least these. */
  private ackedPrefixCount(): number {
    let count = 0;
    for (let i = this.canon.length - 1; i >= 0; i--) {
      if (this.writes.get(this.canon[i]!.writeId)?.status === 'acked') {
        count = i + 1;
        break;
      }
    }
    return count;
  }

  private checkSyncs(ticks: number): void {
    const requests = [...this.nodes.keys()].map((sid) => ({ sid, request: this.sync(sid) }));
    check(this.runUntil(() => requests.every((r) => r.request.done), ticks), 'liveness: syncs not answered on a stable cluster');
    for (const { sid, request } of requests) {
      check(this.node(sid).sm.count >= request.mustSeeCount, `${sid}: sync done but an acked write is not visible`);
    }
  }

  // ---- chaos ---------------------------------------------------------------------------------

  private injectFaults(): void {
    const plan = this.faults;
    const sids = [...this.nodes.keys()];
    if (this.tickCount === this.forcedFaultTick) this.injectForcedFault(sids);
    if (this.prng.chance(plan.crashChancePerTick)) {
      const victim = this.prng.pick(sids);
      if (this.node(victim).up) {
        this.crash(victim);
        this.restartAtTick.set(victim, this.tickCount + this.prng.range(3, 60));
      }
    }
    if (!this.network.partitioned && this.prng.chance(plan.partitionChancePerTick)) {
      const shuffled = [...sids].sort(() => this.prng.float() - 0.5);
      const cut = this.prng.range(1, shuffled.length - 1);
      this.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      this.healAtTick = this.tickCount + this.prng.range(5, 60);
    }
    if (this.prng.chance(plan.resetChancePerTick)) {
      const a = this.prng.pick(sids);
      const b = this.prng.pick(sids);
      if (a !== b) this.resetLink(a, b);
    }
    if (this.prng.chance(plan.pauseChancePerTick)) this.pause(this.prng.pick(sids), this.prng.range(2, 30));
  }

  private injectForcedFault(sids: number[]): void {
    const kind = this.prng.int(3);
    const victim = this.prng.pick(sids);
    if (kind === 0 && this.node(victim).up) {
      this.crash(victim);
      this.restartAtTick.set(victim, this.tickCount + this.prng.range(3, 60));
    } else if (kind === 1 && !this.network.partitioned) {
      this.partition([[victim], sids.filter((sid) => sid !== victim)]);
      this.healAtTick = this.tickCount + this.prng.range(5, 60);
    } else {
      this.pause(victim, this.prng.range(2, 30));
    }
  }

  private scheduledRecoveries(chaos: boolean): void {
    if (!chaos) return;
    if (this.healAtTick >= 0 && this.tickCount >= this.healAtTick) {
      this.healAtTick = -1;
      this.heal();
    }
    for (const [sid, at] of this.restartAtTick) {
      if (this.tickCount >= at) {
        this.restartAtTick.delete(sid);
        this.restart(sid);
      }
    }
  }

  private injectWorkload(): void {
    let writes = Math.floor(this.faults.writesPerTickMean);
    if (this.prng.chance(this.faults.writesPerTickMean - writes)) writes++;
    const sids = [...this.nodes.keys()];
    for (let i = 0; i < writes; i++) this.write(this.prng.pick(sids));
    if (this.prng.chance(0.05)) this.sync(this.prng.pick(sids));
  }

  private healAll(): void {
    this.log('liveness phase: heal everything');
    this.faults = { ...quietFaultPlan, fsyncDelayMax: this.faults.fsyncDelayMax };
    this.network.faults = this.faults.network;
    this.healAtTick = -1;
    this.restartAtTick.clear();
    this.heal();
    for (const node of this.nodes.values()) {
      if (!node.up) this.restart(node.sid);
      else if (node.pausedUntilTick !== 0) this.resume(node);
      this.stallFsync(node.sid, false);
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  private createNode(sid: number, voter: boolean): SimNode {
    const disk = new VirtualDisk();
    return {
      sid,
      voter,
      up: true,
      incarnation: 0,
      pausedUntilTick: 0,
      backlog: [],
      disk,
      sm: new HashChainMachine(),
      peer: this.newPeer(sid, disk),
      fsyncStalled: false,
      pending: new Map(),
      coreEvents: [],
      snapshotsInstalled: 0,
      truncations: 0,
    };
  }

  private newPeer(sid: number, disk: VirtualDisk): QuorumPeer {
    return new QuorumPeer({ self: sid, view: this.view, limits: this.limits, payloads: hashChainPayloads }, disk.recover());
  }

  private finishStats(): void {
    let acked = 0;
    let rejected = 0;
    let unknown = 0;
    for (const w of this.writes.values()) {
      if (w.status === 'acked') acked++;
      else if (w.status === 'rejected') rejected++;
      else unknown++;
    }
    this.stats.writesAcked = acked;
    this.stats.writesRejected = rejected;
    this.stats.writesUnknown = unknown;
    this.stats.committed = this.canon.length;
    this.stats.sessionsOpened = this.sessions.stats.sessionsOpened;
    this.stats.sessionsExpired = this.sessions.stats.sessionsExpired;
    this.stats.revalidationsValid = this.sessions.stats.revalidationsValid;
  }

  /** The simulator as the session clients see it. */
  private sessionHost(): SessionSimHost {
    const sim = this;
    const view = (node: SimNode): SessionSimMember => ({
      sid: node.sid,
      up: node.up,
      paused: node.pausedUntilTick > sim.tickCount,
      serving: node.up && node.peer.isServing,
      leading: node.up && node.peer.roleName === 'leading',
      leader: node.peer.leaderSid,
      epoch: node.peer.epoch,
      sessionMode: node.peer.sessions.mode,
      isOpen: (sessionId) => node.sm.isOpen(sessionId),
    });
    return {
      prng: this.prng,
      get tickCount() { return sim.tickCount; },
      tickMs: this.limits.tickMs,
      members: () => [...this.nodes.values()].map(view),
      member: (sid) => view(this.node(sid)),
      feed: (sid, event) => this.feed(this.node(sid), event),
      write: (sid, key, value, afterStep) => this.write(sid, key, value, afterStep),
      writeStatus: (writeId) => this.writeStatus(writeId),
      violation: (message) => { throw new SimViolation(message); },
      log: (line) => this.log(line),
    };
  }

  private log(line: string): void {
    if (this.traceLines === 0) return;
    this.trace.push(`t${this.tickCount} ${line}`);
    if (this.trace.length > this.traceLines) this.trace.shift();
  }
}

/** One seed, default phases: what `npm run sim` and the sweep run. */
export function runSeed(seed: number, options: Partial<SimOptions> = {}): SimReport {
  const sim = new Simulation({ seed, traceLines: 60, ...options });
  return sim.run(defaultSafetyTicks, defaultLivenessTicksMax);
}

export const defaultSafetyTicks = 150;
export const defaultLivenessTicksMax = 400;
