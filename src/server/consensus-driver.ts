import type { PeerSpec, ServerConfig } from '../config/config.js';
import { encodeTreeSnapshot } from '../data/tree-snapshot.js';
import { encodeTxn } from '../data/txn-codec.js';
import type { Txn } from '../data/txn.js';
import { StartupError, ZkError } from '../errors.js';
import { hex, type Logger } from '../logger.js';
import { ErrorCode } from '../protocol/constants.js';
import { LearnerPhase, type Origin, type BarrierEffect, type ImmediateEffect, type QuorumEffect, type QuorumEvent, type QuorumPeer, type Role } from '../quorum/index.js';
import type { PeerFaultHook } from '../quorum/peer-options.js';
import { PeerTransport } from '../quorum/peer-transport.js';
import { sessionEntry, type SessionEntry } from '../quorum/messages.js';
import type { SessionLiveness } from '../quorum/session-liveness.js';
import type { SessionEffects, SessionEvent, SessionLink } from './ensemble-sessions.js';
import type { ApplyStage } from './apply-stage.js';
import { listenFailure } from './client-port.js';
import type { Committer, FatalHandler, SinkListener, WriteRequest, WriteWaiter } from './committer.js';
import { PendingRequests } from './pending-requests.js';
import type { MemberCore } from './member-config.js';
import type { MemberStorage } from './persistence.js';

export type RoleListener = (role: Role, leader: number | null, serving: boolean) => void;

/** Ticks delivered at once after a pause; more than any limit in ticks, so every timeout fires. */
const catchUpTicksMax = 100_000;

export interface ConsensusDriverOptions {
  config: ServerConfig;
  serverId: number;
  core: MemberCore;
  storage: MemberStorage;
  apply: ApplyStage;
  log: Logger;
  onFatal: FatalHandler;
  faults?: PeerFaultHook;
  now?: () => number;
}

/**
 * The I/O shell around the consensus core: events go into `QuorumPeer.step` one at a time and
 * its effects are carried out in order, barrier effects (epochs, truncation, snapshot install)
 * awaited before anything after them. It feeds the commit pipeline (persist through the txn
 * log's group commit, `durable` back to the core, committed txns to the apply stage) and owns
 * the core's clock, which it brings up to date before any client is answered.
 */
export class ConsensusDriver implements Committer, SessionLink, SinkListener {
  readonly peer: QuorumPeer;
  readonly transport: PeerTransport;
  role: Role = 'looking';
  leader: number | null = null;
  serving = false;
  private readonly options: ConsensusDriverOptions;
  private readonly apply: ApplyStage;
  private readonly storage: MemberStorage;
  private readonly now: () => number;
  private readonly coreTickMs: number;
  private readonly events: QuorumEvent[] = [];
  private readonly pending = new PendingRequests();
  private sessions: SessionEffects | null = null;
  /** Sessions heard from since the core last got them, with their timeouts: a Map set per packet. */
  private readonly touched = new Map<bigint, number>();
  private touchesScheduled = false;
  private readonly roleListeners: RoleListener[] = [];
  private draining = false;
  private stopped = false;
  /** When the next core tick falls due (0: the clock has not started). */
  private nextTickDue = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  /** When the armed timer fires. */
  private timerAt = 0;

  constructor(options: ConsensusDriverOptions) {
    this.options = options;
    this.apply = options.apply;
    this.storage = options.storage;
    this.now = options.now ?? Date.now;
    this.peer = options.core.peer;
    this.coreTickMs = options.core.coreTickMs;
    const me = options.core.me;
    this.transport = new PeerTransport({
      self: options.serverId,
      peers: options.config.servers.map((p) => ({ sid: p.sid, host: p.host, port: p.electionPort })),
      listenHost: me.host,
      listenPort: me.electionPort,
      log: options.log,
      onMessage: (from, msg) => this.enqueue({ kind: 'message', from, msg }),
      onDisconnected: (peer) => this.enqueue({ kind: 'disconnected', peer }),
      faults: options.faults,
      juteMaxBuffer: options.config.juteMaxBuffer,
      tls: options.config.quorumTls,
      secret: options.config.quorumAuthSecret,
    });
    this.storage.sink.listen(this);
  }

  /** Where the core's session effects go (the ensemble session authority). */
  reportSessionsTo(sessions: SessionEffects): void {
    this.sessions = sessions;
  }

  /** Hears every role or readiness change (after requests pending in the core were failed on losing it). */
  watchRole(listener: RoleListener): void {
    this.roleListeners.push(listener);
  }

  /** Binds the election port; one in use is a StartupError naming this member's server.N line. */
  async bind(): Promise<void> {
    const me = this.options.core.me;
    await this.transport.start().catch((err: NodeJS.ErrnoException) => {
      throw new StartupError(`server.${me.sid}`, `${me.host}:${me.quorumPort}:${me.electionPort}`, `cannot listen on election port ${me.host}:${me.electionPort}: ${listenFailure(err)}`, { cause: err });
    });
  }

  /** Joins the election and starts the core's clock. */
  begin(): void {
    this.enqueue({ kind: 'start' });
    this.nextTickDue = Date.now() + this.coreTickMs;
    this.armClock();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer !== null) clearTimeout(this.tickTimer);
    this.failPending('server stopping');
    this.sessions?.stopped();
    await this.transport.stop();
  }

  /**
   * Delivers one tick per core interval that has elapsed. Called from the timer, and before
   * anything a client asks: a process that was paused (SIGSTOP, a long GC) must learn that it
   * lost its quorum before it answers anyone, not when its timer next fires (after a pause
   * the event loop may run socket callbacks before timers).
   */
  catchUpClock(): void {
    if (this.queueElapsedTicks() && !this.draining) this.drain(null, 0);
  }

  /** Queues a tick for every core interval that has elapsed; whether there was any. */
  private queueElapsedTicks(): boolean {
    if (this.nextTickDue === 0) return false; // not begun: the clock starts with the election
    const now = Date.now();
    if (this.nextTickDue > now) return false;
    let ticks = 0;
    while (this.nextTickDue <= now && ticks < catchUpTicksMax) {
      this.events.push({ kind: 'tick' });
      this.nextTickDue += this.coreTickMs;
      ticks++;
    }
    if (this.nextTickDue <= now) this.nextTickDue = now + this.coreTickMs;
    return true;
  }

  /**
   * Arms the timer for the first tick at which the core has something to do; the idle ticks
   * before it go in with it (or with the next event, whichever comes first). An idle member
   * thus wakes for its PINGs and deadlines, not every core interval. Unref'd: the member's
   * sockets, not its clock, keep the process alive.
   */
  private armClock(): void {
    if (this.stopped || this.nextTickDue === 0) return;
    const due = this.peer.ticksUntilDue();
    const at = Number.isFinite(due) ? this.nextTickDue + (due - 1) * this.coreTickMs : Number.POSITIVE_INFINITY;
    if (this.tickTimer !== null) {
      if (this.timerAt <= at) return; // armed early enough: it re-arms when it fires
      clearTimeout(this.tickTimer);
      this.tickTimer = null;
    }
    if (at === Number.POSITIVE_INFINITY) return;
    this.timerAt = at;
    this.tickTimer = setTimeout(() => {
      this.tickTimer = null;
      this.catchUpClock();
      this.armClock();
    }, Math.max(0, at - Date.now()));
    this.tickTimer.unref();
  }

  // ---- Committer: client writes and syncs into the core -------------------------------------

  submit(request: WriteRequest, waiter: WriteWaiter): void {
    if (!this.serving) {
      waiter.lost(new ZkError(ErrorCode.CONNECTIONLOSS, 'not serving'));
      return;
    }
    const txn: Txn = { zxid: 0n, time: this.now(), sessionId: request.sessionId, cxid: request.cxid, authIds: request.authIds, op: request.op };
    const requestId = this.pending.addWrite(waiter);
    this.enqueue({ kind: 'clientWrite', requestId, payload: encodeTxn(txn) });
  }

  sync(): Promise<void> {
    if (!this.serving) return Promise.reject(new ZkError(ErrorCode.CONNECTIONLOSS, 'not serving'));
    return new Promise((resolve, reject) => this.enqueue({ kind: 'clientSync', requestId: this.pending.addSync(resolve, reject) }));
  }

  /** Syncs waiting for the core's answer. */
  get pendingSyncCount(): number {
    return this.pending.syncCount;
  }

  // ---- SinkListener: the txn log's group commits ---------------------------------------------

  durable(zxid: bigint): void {
    this.enqueue({ kind: 'durable', zxid });
  }

  failed(err: unknown): void {
    this.fatal(err, 'txn log write failed');
  }

  // ---- SessionLink ------------------------------------------------------------------------

  get sessionLiveness(): SessionLiveness {
    return this.peer.sessions;
  }

  sessionEvent(event: SessionEvent): void {
    this.enqueue(event);
  }

  touchSession(sessionId: bigint, timeoutMs: number): void {
    this.touched.set(sessionId, timeoutMs);
    if (this.touchesScheduled) return;
    this.touchesScheduled = true;
    setImmediate(() => {
      this.touchesScheduled = false;
      if (this.touched.size === 0 || this.stopped) return;
      // Heard this turn: the core's clock must be current, or the touch would count as older.
      this.queueElapsedTicks();
      this.queueTouches();
      if (!this.draining) this.drain(null, 0);
    });
  }

  /** Queues the touches of this turn as one core event. */
  private queueTouches(): void {
    if (this.touched.size === 0) return;
    const touches: SessionEntry[] = [];
    for (const [sessionId, timeoutMs] of this.touched) touches.push(sessionEntry(sessionId, timeoutMs));
    this.touched.clear();
    this.events.push({ kind: 'sessionTouches', touches });
  }

  // ---- the event loop around the core ---------------------------------------------------------

  private enqueue(event: QuorumEvent): void {
    if (this.stopped) return;
    // Idle ticks the timer slept through go first: the core's clock must be current when the
    // event arrives (a message sets when its sender was last heard from).
    this.queueElapsedTicks();
    // A learner's PING reply carries the sessions heard from since the last one.
    if (event.kind === 'message' && event.msg.type === 'ping') this.queueTouches();
    this.events.push(event);
    if (!this.draining) this.drain(null, 0);
  }

  /**
   * Runs queued events through the core, after what is left of `effects` (a step a barrier
   * interrupted). Effects are carried out synchronously, with no promise per event; a barrier
   * suspends the loop until it is done (`draining` stays set, so events wait behind it), so
   * a tick's step-down takes effect before the caller of enqueue goes on, and nothing after a
   * barrier overtakes it.
   */
  private drain(effects: QuorumEffect[] | null, next: number): void {
    this.draining = true;
    try {
      for (;;) {
        while (effects !== null && next < effects.length) {
          const barrier = this.perform(effects[next++]!);
          if (barrier === undefined) continue;
          const [rest, at] = [effects, next];
          barrier.then(
            () => this.drain(rest, at),
            (err: unknown) => this.fatal(err, 'ensemble member failed'),
          );
          return;
        }
        if (this.events.length === 0 || this.stopped) break;
        effects = this.peer.step(this.events.shift()!);
        next = 0;
      }
      this.draining = false;
      this.armClock();
    } catch (err) {
      this.draining = false;
      this.fatal(err, 'ensemble member failed');
    }
  }

  /** Carries out one effect; returns a promise only for barriers. */
  private perform(effect: QuorumEffect): Promise<void> | undefined {
    if (effect.barrier) return this.performBarrier(effect);
    this.performAtOnce(effect);
    return undefined;
  }

  private performBarrier(effect: BarrierEffect): Promise<void> {
    switch (effect.kind) {
      case 'truncateLog':
        return this.storage.truncateAfter(effect.zxid);
      case 'persistAcceptedEpoch':
        return this.storage.persistAcceptedEpoch(effect.epoch);
      case 'persistCurrentEpoch':
        return this.storage.persistCurrentEpoch(effect.epoch);
      case 'installSnapshot':
        return this.installSnapshot(effect.zxid, effect.data);
    }
  }

  private performAtOnce(effect: ImmediateEffect): void {
    switch (effect.kind) {
      case 'send':
        this.transport.send(effect.to, effect.msg);
        break;
      case 'disconnect':
        this.transport.disconnect(effect.peer, effect.reason);
        break;
      case 'persistTxns':
        for (const entry of effect.entries) this.storage.sink.appendPayload(entry.zxid, entry.payload);
        break;
      case 'apply':
        this.committed(effect.zxid, effect.payload, effect.origin);
        break;
      case 'takeSnapshot':
        // The core wants the state as of every apply it emitted: apply what is queued first.
        this.apply.drain();
        this.events.unshift({ kind: 'snapshotTaken', zxid: this.apply.tree.lastZxid, data: encodeTreeSnapshot(this.apply.tree) });
        break;
      case 'syncDone':
        this.syncDone(effect.requestId);
        break;
      case 'requestRejected':
        this.pending.reject(effect.requestId, new ZkError(ErrorCode.CONNECTIONLOSS, `request not accepted: ${effect.reason}`));
        break;
      case 'roleChanged':
        this.roleChanged(effect.role, effect.leader, effect.serving);
        break;
      case 'expireSession':
        this.sessions?.expired(effect.sessionId);
        break;
      case 'sessionRevalidated':
        this.sessions?.revalidated(effect.sessionId, effect.answer);
        break;
    }
  }

  /**
   * A committed txn goes to the apply stage, with its waiter when it is a write of ours. Every
   * member, the origin included, applies what the payload decodes to: the same bytes give the
   * same txn everywhere. Total: bytes that are not a txn apply as an error txn.
   */
  private committed(zxid: bigint, payload: Uint8Array, origin: Origin | null): void {
    const waiter = origin !== null && origin.sid === this.options.serverId ? this.pending.takeWrite(origin.requestId) : undefined;
    this.decodingZxid = zxid;
    const txn = this.options.core.payloads.txn(payload, this.malformedTxn);
    txn.zxid = zxid;
    this.apply.enqueue(txn, waiter ?? null);
  }

  /** One callback for every txn `committed` decodes, not a closure per txn (it runs once per write). */
  private decodingZxid = 0n;
  private readonly malformedTxn = (reason: string): void => {
    this.options.log.warn({ zxid: hex(this.decodingZxid), reason }, 'committed txn is malformed; applied as an error');
  };

  private async installSnapshot(zxid: bigint, data: Uint8Array): Promise<void> {
    this.apply.drain();
    const tree = this.options.core.payloads.tree(data);
    await this.storage.installSnapshot(zxid, tree);
    this.apply.replaceTree(tree);
  }

  /** The core answered a sync: done once what it committed before is applied here. */
  private syncDone(requestId: number): void {
    const resolve = this.pending.takeSync(requestId);
    if (resolve !== undefined) this.apply.whenQueuedApplied(resolve);
  }

  private roleChanged(role: Role, leader: number | null, serving: boolean): void {
    const was = this.serving;
    this.role = role;
    this.leader = leader;
    this.options.log.info({ role, leader, serving, zxid: hex(this.apply.tree.lastZxid) }, 'role changed');
    if (was && !serving) this.failPending(`this server stopped ${role === 'looking' ? 'following a leader' : 'serving'}`);
    this.serving = serving;
    for (const listener of this.roleListeners) listener(role, leader, serving);
  }

  /** Requests the core has not committed: their fate is unknown here, the client sees a lost connection. */
  private failPending(reason: string): void {
    this.pending.failAll(new ZkError(ErrorCode.CONNECTIONLOSS, reason));
  }

  private fatal(err: unknown, what: string): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== null) clearTimeout(this.tickTimer);
    this.options.onFatal(err, what);
  }
}

/** mntr rows for an ensemble member's role (the leader adds its learners). */
export function memberMetrics(driver: ConsensusDriver, config: ServerConfig, serverId: number): [string, string | number][] {
  const rows: [string, string | number][] = [
    ['zk_peer_state', `${driver.role} - ${driver.serving ? 'broadcast' : 'not serving'}`],
    ['zk_leader_sid', driver.leader ?? -1],
    ['zk_quorum_epoch', String(driver.peer.currentEpoch)],
    ['zk_peer_frames_sent', driver.transport.framesSent],
    ['zk_peer_writes', driver.transport.peerWrites],
    ['zk_peer_frames_received', driver.transport.framesReceived],
  ];
  const leader = driver.peer.leaderRole;
  if (leader === null) return rows;
  const followers = config.servers.filter((p) => p.sid !== serverId && p.role === 'participant');
  const observers = config.servers.filter((p) => p.role === 'observer');
  const synced = (list: readonly PeerSpec[]) => list.filter((p) => leader.learnerPhase(p.sid) === LearnerPhase.upToDate).length;
  rows.push(['zk_learners', followers.length + observers.length]);
  rows.push(['zk_synced_followers', synced(followers)]);
  rows.push(['zk_synced_observers', synced(observers)]);
  rows.push(['zk_pending_syncs', driver.pendingSyncCount]);
  return rows;
}
