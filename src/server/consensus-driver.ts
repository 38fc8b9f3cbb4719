import type { ServerConfig } from '../config/config.js';
import { encodeTreeSnapshot } from '../data/tree-snapshot.js';
import { encodeTxn } from '../data/txn-codec.js';
import type { Txn } from '../data/txn.js';
import { StartupError, ZkError } from '../errors.js';
import { hex, type Logger } from '../logger.js';
import { ErrorCode } from '../protocol/constants.js';
import type { Origin, BarrierEffect, ImmediateEffect, QuorumEffect, QuorumEvent, QuorumPeer, Role } from '../quorum/index.js';
import type { PeerFaultHook } from '../quorum/peer-options.js';
import { PeerTransport } from '../quorum/peer-transport.js';
import type { SessionLiveness } from '../quorum/session-liveness.js';
import type { SessionEffects, SessionEvent, SessionLink } from './ensemble-sessions.js';
import type { ApplyStage } from './apply-stage.js';
import { listenFailure } from './client-port.js';
import type { Committer, FatalHandler, SinkListener, WriteRequest, WriteWaiter } from './committer.js';
import { CoreClock } from './core-clock.js';
import { PendingRequests } from './pending-requests.js';
import { SessionTouches } from './session-touches.js';
import type { MemberCore } from './member-config.js';
import type { MemberStorage } from './persistence.js';

export type RoleListener = (role: Role, leader: number | null, serving: boolean) => void;

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
  private readonly clock: CoreClock;
  private readonly events: QuorumEvent[] = [];
  private readonly pending = new PendingRequests();
  private sessions: SessionEffects | null = null;
  private readonly touches = new SessionTouches(() => this.touchesDue());
  private readonly roleListeners: RoleListener[] = [];
  private draining = false;
  private stopped = false;

  constructor(options: ConsensusDriverOptions) {
    this.options = options;
    this.apply = options.apply;
    this.storage = options.storage;
    this.now = options.now ?? Date.now;
    this.peer = options.core.peer;
    this.clock = new CoreClock(options.core.coreTickMs, this.peer, () => this.catchUpClock());
    this.transport = electionTransport(options, (event) => this.enqueue(event));
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
    this.clock.start();
    this.clock.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.stop();
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
    const ticks = this.clock.takeElapsedTicks();
    for (let i = 0; i < ticks; i++) this.events.push({ kind: 'tick' });
    return ticks > 0;
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
    this.touches.add(sessionId, timeoutMs);
  }

  private touchesDue(): void {
    if (this.stopped) return;
    // Heard this turn: the core's clock must be current, or the touch would count as older.
    this.queueElapsedTicks();
    this.queueTouches();
    if (!this.draining) this.drain(null, 0);
  }

  private queueTouches(): void {
    const event = this.touches.take();
    if (event !== null) this.events.push(event);
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
      this.clock.arm();
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
        this.pending.reject(effect.requestId, new ZkError(effect.reason === 'sessionMoved' ? ErrorCode.SESSIONMOVED : ErrorCode.CONNECTIONLOSS, `request not accepted: ${effect.reason}`));
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
    this.clock.stop();
    this.options.onFatal(err, what);
  }
}

/** The peer transport on this member's election port, to the server.N lines; what it hears goes to `deliver`. */
function electionTransport(options: ConsensusDriverOptions, deliver: (event: QuorumEvent) => void): PeerTransport {
  const me = options.core.me;
  return new PeerTransport({
    self: options.serverId,
    peers: options.config.servers.map((p) => ({ sid: p.sid, host: p.host, port: p.electionPort })),
    listenHost: me.host,
    listenPort: me.electionPort,
    log: options.log,
    onMessage: (from, msg) => deliver({ kind: 'message', from, msg }),
    onDisconnected: (peer) => deliver({ kind: 'disconnected', peer }),
    faults: options.faults,
    juteMaxBuffer: options.config.juteMaxBuffer,
    tls: options.config.quorumTls,
    secret: options.config.quorumAuthSecret,
  });
}
