import type { QuorumEffect } from '../effects.js';
import type { QuorumEvent } from '../events.js';
import { defaultQuorumLimits, type QuorumLimits } from '../limits.js';
import type { PeerMessage } from '../messages.js';
import { makeQuorumView, type QuorumView } from '../quorum-view.js';
import type { Zxid } from '../zxid.js';
import { EventQueue } from './event-queue.js';
import { SimChaos, drawFaultPlan, quietFaultPlan, type FaultPlan } from './fault-plan.js';
import { encodeSimWrite } from './hash-chain.js';
import { VirtualNetwork } from './network.js';
import { Prng } from './prng.js';
import { SimOracle, check } from './sim-oracle.js';
import { SimLifecycle } from './sim-lifecycle.js';
import { simSessionHost } from './sim-session-host.js';
import { SimSessions } from './sim-sessions.js';
import { SimShell } from './sim-shell.js';
import { emptySimStats, type PendingRequest, type SimEvent, type SimNode, type SimOptions, type SimStats, type WriteRecord, type WriteStatus } from './sim-types.js';

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
  /** The last `traceLines` lines of what happened, for failure reports. */
  readonly trace: string[] = [];
  private readonly traceLines: number;
  readonly oracle: SimOracle;
  private readonly shell = new SimShell(this);
  private readonly chaos = new SimChaos(this);
  private readonly lifecycle = new SimLifecycle(this, this.shell);

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
    this.sessions = new SimSessions(simSessionHost(this, (node, event) => this.shell.feed(node, event)));
    this.faults = options.faults ?? drawFaultPlan(this.prng);
    this.traceLines = options.traceLines ?? 0;
    this.network = new VirtualNetwork(this.prng, this.faults.network, (time, delivery) =>
      this.schedule({ time, seq: 0, kind: 'deliver', delivery }),
    );
    for (const sid of [...voterSids, ...observerSids]) this.nodes.set(sid, this.lifecycle.createNode(sid, voterSids.includes(sid)));
  }

  // ---- scripted control (scenario tests) -----------------------------------------------------

  /** The safety phase: `ticks` ticks of random faults and workload, at least one fault among them. */
  runSafety(ticks: number): void {
    this.chaos.forceOneFault(ticks);
    this.runTicks(ticks, true);
  }

  start(): void {
    for (const node of this.nodes.values()) this.shell.feed(node, { kind: 'start' });
    this.schedule({ time: this.now + simTimeUnitsPerTick, seq: 0, kind: 'tick' });
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
    else this.shell.feed(node, { kind: 'clientWrite', requestId, payload });
    return writeId;
  }

  /** What a client does to its session on `sid`: a touch batch, or a reconnect (revalidation). */
  sessionEvent(sid: number, event: QuorumEvent & { kind: 'sessionTouches' | 'revalidateSession' }): void {
    this.shell.feed(this.node(sid), event);
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
    this.shell.feed(node, { kind: 'clientSync', requestId });
    return request;
  }

  crash(sid: number, keepUnsynced: boolean | 'random' = 'random'): void {
    this.lifecycle.crash(sid, keepUnsynced);
  }

  /** Starts a crashed server again from what its disk kept. */
  restart(sid: number): void {
    this.lifecycle.restart(sid);
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
    this.lifecycle.pause(sid, ticks);
  }

  stallFsync(sid: number, stalled: boolean): void {
    this.lifecycle.stallFsync(sid, stalled);
  }

  /**
   * A message that `to` receives as if `from` had sent it, outside the network: for tests that
   * throw unexpected or forged (but well-formed) messages at a server in whatever state it is.
   */
  inject(to: number, from: number, msg: PeerMessage): void {
    this.log(`inject ${msg.type} ${from}->${to}`);
    this.shell.feed(this.node(to), { kind: 'message', from, msg });
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

  schedule(event: SimEvent): void {
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
      case 'deliver': this.shell.deliver(event.delivery); break;
      case 'fsync': this.shell.fsyncDone(event.sid, event.incarnation); break;
      case 'local': {
        const node = this.node(event.sid);
        if (node.incarnation === event.incarnation) this.shell.feed(node, event.event);
        break;
      }
    }
    this.oracle.checkNodes();
  }

  private onTick(chaos: boolean): void {
    this.tickCount++;
    this.stats.ticks++;
    this.schedule({ time: this.now + simTimeUnitsPerTick, seq: 0, kind: 'tick' });
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
      if (node.up && node.pausedUntilTick !== 0 && node.pausedUntilTick <= this.tickCount) this.shell.resume(node);
      this.shell.feed(node, { kind: 'tick' });
      this.shell.checkSessionTable(node);
    }
    if (chaos) this.chaos.injectWorkload();
    this.sessions.onTick(chaos);
  }

  /** The liveness phase's start: no more faults, every server up, every link and disk working. */
  healAll(): void {
    this.log('liveness phase: heal everything');
    this.faults = { ...quietFaultPlan, fsyncDelayMax: this.faults.fsyncDelayMax };
    this.network.faults = this.faults.network;
    this.chaos.stop();
    this.heal();
    for (const node of this.nodes.values()) {
      if (!node.up) this.restart(node.sid);
      else if (node.pausedUntilTick !== 0) this.shell.resume(node);
      this.stallFsync(node.sid, false);
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  log(line: string): void {
    if (this.traceLines === 0) return;
    this.trace.push(`t${this.tickCount} ${line}`);
    if (this.trace.length > this.traceLines) this.trace.shift();
  }
}
