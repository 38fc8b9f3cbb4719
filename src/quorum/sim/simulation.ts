import type { QuorumEffect } from '../effects.js';
import type { QuorumEvent } from '../events.js';
import { defaultQuorumLimits, type QuorumLimits } from '../limits.js';
import type { PeerMessage } from '../messages.js';
import { QuorumPeer } from '../peer.js';
import { makeQuorumView, type QuorumView } from '../quorum-view.js';
import type { Zxid } from '../zxid.js';
import { VirtualDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { SimChaos, drawFaultPlan, quietFaultPlan, type ChaosTarget, type FaultPlan } from './fault-plan.js';
import { HashChainMachine, encodeSimWrite, hashChainPayloads } from './hash-chain.js';
import { VirtualNetwork, type Delivery } from './network.js';
import { Prng } from './prng.js';
import { SimOracle, SimViolation, check } from './sim-oracle.js';
import { SimSessions, type SessionSimHost, type SessionSimMember } from './sim-sessions.js';
import { SimShell, type ShellHost } from './sim-shell.js';
import { emptySimStats, type PendingRequest, type SimEvent, type SimNode, type SimOptions, type SimReport, type SimStats, type WriteRecord, type WriteStatus } from './sim-types.js';

/** Simulator time units per core tick; message and fsync delays are drawn in these units. */
export const simTimeUnitsPerTick = 10;

/** Small enough that every simulated snapshot (12 bytes and 5 per key) travels in several chunks. */
export const simSnapChunkBytes = 16;

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
  readonly writes = new Map<number, WriteRecord>();
  /** The one true applied sequence: every server's applied txns must be a prefix of it. */
  readonly canon: SimOracle['canon'];
  readonly stats: SimStats = emptySimStats();
  /** Clients with sessions, and the session liveness properties. */
  readonly sessions: SimSessions;
  /** Hook for scenario tests: every effect, after the simulator performed it. */
  onEffect: ((sid: number, effect: QuorumEffect) => void) | null = null;
  private readonly queue = new EventQueue<SimEvent>();
  private seq = 0;
  private nextWriteId = 1;
  private nextRequestId = 1;
  private readonly trace: string[] = [];
  private readonly traceLines: number;
  private readonly oracle: SimOracle;
  private readonly shell = new SimShell(this.shellHost());
  private readonly chaos = new SimChaos(this.chaosTarget());

  constructor(readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    const voters = options.voters ?? (this.prng.chance(0.5) ? 3 : 5);
    const observers = options.observers ?? (this.prng.chance(0.3) ? 1 : 0);
    const voterSids = Array.from({ length: voters }, (_, i) => i + 1);
    const observerSids = Array.from({ length: observers }, (_, i) => voters + i + 1);
    this.view = makeQuorumView(voterSids, observerSids);
    this.oracle = new SimOracle(this.view, this.nodes, this.writes);
    this.canon = this.oracle.canon;
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
      this.chaos.forceOneFault(safetyTicks);
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
    const request = { kind: 'sync' as const, mustSeeCount: this.oracle.ackedPrefixCount(), done: false };
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
    this.shell.failPending(node);
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
      this.oracle.checkAgainstCanon(node.sid, sm, 'restored snapshot');
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
    if (!stalled) this.shell.maybeStartFsync(node);
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
    this.oracle.checkNodes();
  }

  private onTick(chaos: boolean): void {
    this.tickCount++;
    this.stats.ticks++;
    this.push({ time: this.now + simTimeUnitsPerTick, seq: 0, kind: 'tick' });
    if (chaos) {
      this.chaos.injectFaults();
      this.chaos.scheduledRecoveries();
    }
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
    if (chaos) this.chaos.injectWorkload();
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
    this.shell.maybeStartFsync(node);
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
    for (const effect of effects) this.shell.perform(node, effect);
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

  private checkSyncs(ticks: number): void {
    const requests = [...this.nodes.keys()].map((sid) => ({ sid, request: this.sync(sid) }));
    check(this.runUntil(() => requests.every((r) => r.request.done), ticks), 'liveness: syncs not answered on a stable cluster');
    for (const { sid, request } of requests) {
      check(this.node(sid).sm.count >= request.mustSeeCount, `${sid}: sync done but an acked write is not visible`);
    }
  }

  private healAll(): void {
    this.log('liveness phase: heal everything');
    this.faults = { ...quietFaultPlan, fsyncDelayMax: this.faults.fsyncDelayMax };
    this.network.faults = this.faults.network;
    this.chaos.stop();
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

  /** The simulator as its shell sees it. */
  private shellHost(): ShellHost {
    const sim = this;
    return {
      get prng() { return sim.prng; },
      get now() { return sim.now; },
      get faults() { return sim.faults; },
      get limits() { return sim.limits; },
      get network() { return sim.network; },
      stats: this.stats,
      get sessions() { return sim.sessions; },
      get oracle() { return sim.oracle; },
      writes: this.writes,
      get onEffect() { return sim.onEffect; },
      schedule: (event) => this.push(event),
      log: (line) => this.log(line),
    };
  }

  /** The simulator as the safety phase's chaos sees it. */
  private chaosTarget(): ChaosTarget {
    const sim = this;
    return {
      get prng() { return sim.prng; },
      get faults() { return sim.faults; },
      get tickCount() { return sim.tickCount; },
      get partitioned() { return sim.network.partitioned; },
      sids: () => [...this.nodes.keys()],
      isUp: (sid) => this.node(sid).up,
      crash: (sid) => this.crash(sid),
      restart: (sid) => this.restart(sid),
      partition: (groups) => this.partition(groups),
      heal: () => this.heal(),
      resetLink: (a, b) => this.resetLink(a, b),
      pause: (sid, ticks) => this.pause(sid, ticks),
      write: (sid) => this.write(sid),
      sync: (sid) => this.sync(sid),
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
