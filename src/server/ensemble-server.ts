import { Packr } from 'msgpackr';
import type { PeerSpec } from '../config/config.js';
import type { DataTree } from '../data/data-tree.js';
import { encodeTreeSnapshot } from '../data/tree-snapshot.js';
import { encodeTxnRequest } from '../data/txn-codec.js';
import { ZkError, invariant } from '../errors.js';
import { hex } from '../logger.js';
import { ErrorCode } from '../protocol/constants.js';
import type { QuorumEffect, QuorumEvent, QuorumLimits, LogEntry, Role } from '../quorum/index.js';
import { LearnerPhase, QuorumPeer, defaultQuorumLimits, makeQuorumView } from '../quorum/index.js';
import { PeerTransport, type PeerFaultHook } from '../quorum/peer-transport.js';
import type { Committer, WriteRequest, WriteWaiter } from './committer.js';
import type { JuteReader } from '../protocol/jute.js';
import type { ConnectRequest, ConnectResponse, RequestHeader } from '../protocol/records.js';
import type { Job, ServerConnection } from './connection.js';
import { TreePayloads } from './peer-payloads.js';
import { ZkServer, type ZkServerOptions } from './zk-server.js';

/** What an ensemble member keeps on disk; the storage layer implements it. */
export interface EnsembleStorage {
  appendTxn(zxid: bigint, payload: Uint8Array): Promise<void>;
  truncateAfter(zxid: bigint): Promise<void>;
  persistAcceptedEpoch(epoch: bigint): Promise<void>;
  persistCurrentEpoch(epoch: bigint): Promise<void>;
  /** Persists a snapshot received from the leader and drops the whole log. */
  installSnapshot(zxid: bigint, tree: DataTree): Promise<void>;
  close(): Promise<void>;
}

/** What the member recovered from disk before starting. */
export interface EnsembleRecovery {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** The tree as of the snapshot (or a fresh tree), not yet including the log. */
  tree: DataTree;
  log: { zxid: bigint; payload: Uint8Array }[];
}

export interface EnsembleServerOptions extends ZkServerOptions {
  serverId: number;
  storage: EnsembleStorage;
  recovery: EnsembleRecovery;
  faults?: PeerFaultHook;
  /** Core ticks per tickTime: the core's clock runs this much finer than the session clock. */
  ticksPerTick?: number;
}

/** The longest core tick: finalize waits and notification resends are counted in these. */
export const coreTickMsMax = 20;
/** Ticks delivered at once after a pause; more than any limit in ticks, so every timeout fires. */
const catchUpTicksMax = 100_000;

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

interface PendingWrite {
  request: WriteRequest;
  waiter: WriteWaiter;
}

/**
 * One member of a replicated ensemble: the client-facing server plus the consensus core,
 * wired to real sockets, timers and fsync. Events go into the core one at a time; its effects
 * are carried out in order, barrier effects (epochs, truncation, snapshot install) awaited
 * before anything after them.
 */
export class EnsembleServer extends ZkServer {
  readonly peer: QuorumPeer;
  readonly transport: PeerTransport;
  private readonly storage: EnsembleStorage;
  private readonly events: QuorumEvent[] = [];
  private draining = false;
  private nextRequestId = 1;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly pendingSyncs = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  private readonly pendingRevalidations = new Map<bigint, ((valid: boolean) => void)[]>();
  private readonly touched = new Map<bigint, number>();
  private role: Role = 'looking';
  private leader: number | null = null;
  private coreTimer: NodeJS.Timeout | null = null;
  private readonly peers: readonly PeerSpec[];
  private stopped = false;
  private appendChain: Promise<void> = Promise.resolve();

  constructor(options: EnsembleServerOptions) {
    super({ ...options, tree: options.recovery.tree });
    const self = this;
    const committer: Committer = {
      submit: (request, waiter) => self.submitWrite(request, waiter),
      get lastZxid() {
        return self.tree.lastZxid;
      },
      get outstanding() {
        return self.pendingWrites.size;
      },
    };
    this.committer = committer;
    this.storage = options.storage;
    this.peers = options.config.servers;
    const me = this.peers.find((p) => p.sid === options.serverId);
    invariant(me !== undefined, `server.${options.serverId} is not configured`);
    // Election and failover run on the core's clock: a fine one (about coreTickMsMax) lets a
    // new leader be decided and serving within a few tens of ms, whatever tickTime is.
    const ticksPerTick = options.ticksPerTick ?? Math.max(10, Math.round(options.config.tickTime / coreTickMsMax));
    const limits: QuorumLimits = {
      ...defaultQuorumLimits,
      initLimitTicks: options.config.initLimit * ticksPerTick,
      syncLimitTicks: options.config.syncLimit * ticksPerTick,
      pingIntervalTicks: Math.max(1, Math.floor(ticksPerTick / 2)),
    };
    const voters = this.peers.filter((p) => p.role === 'participant').map((p) => p.sid);
    const observers = this.peers.filter((p) => p.role === 'observer').map((p) => p.sid);
    const recovered = {
      acceptedEpoch: options.recovery.acceptedEpoch,
      currentEpoch: options.recovery.currentEpoch,
      snapshotZxid: options.recovery.tree.lastZxid,
      log: options.recovery.log.map((e): LogEntry => ({ zxid: e.zxid, payload: e.payload, origin: null })),
    };
    this.payloads = new TreePayloads({ extendedTypesEnabled: options.config.extendedTypesEnabled });
    this.peer = new QuorumPeer({ self: options.serverId, view: makeQuorumView(voters, observers), limits, payloads: this.payloads }, recovered);
    this.coreTickMs = Math.max(1, Math.floor(options.config.tickTime / ticksPerTick));
    this.transport = new PeerTransport({
      self: options.serverId,
      peers: this.peers.map((p) => ({ sid: p.sid, host: p.host, port: p.electionPort })),
      listenHost: me.host,
      listenPort: me.electionPort,
      log: this.log,
      onMessage: (from, msg) => this.enqueue({ kind: 'message', from, msg }),
      onDisconnected: (peer) => this.enqueue({ kind: 'disconnected', peer }),
      faults: options.faults,
      juteMaxBuffer: options.config.juteMaxBuffer,
      tls: options.config.quorumTls,
      secret: options.config.quorumAuthSecret,
    });
  }

  private readonly coreTickMs: number;
  private readonly payloads: TreePayloads;

  protected override servesOnStart(): boolean {
    return false;
  }

  override async start(): Promise<void> {
    await this.transport.start();
    await super.start();
    this.enqueue({ kind: 'start' });
    this.nextTickDue = Date.now() + this.coreTickMs;
    this.scheduleTick();
  }

  private nextTickDue = 0;

  private scheduleTick(): void {
    if (this.stopped) return;
    this.coreTimer = setTimeout(() => {
      this.catchUpClock();
      this.flushTouches();
      this.scheduleTick();
    }, Math.max(0, this.nextTickDue - Date.now()));
  }

  /**
   * Delivers one tick per core interval that has elapsed. Called from the timer, and before
   * anything a client asks: a process that was paused (SIGSTOP, a long GC) must learn that
   * it lost its quorum before it answers anyone, not when its timer next fires — after a
   * pause the event loop may run socket callbacks before timers.
   */
  private catchUpClock(): void {
    const now = Date.now();
    let ticks = 0;
    while (this.nextTickDue <= now && ticks < catchUpTicksMax) {
      this.enqueue({ kind: 'tick' });
      this.nextTickDue += this.coreTickMs;
      ticks++;
    }
    if (this.nextTickDue <= now) this.nextTickDue = now + this.coreTickMs;
  }

  override async stop(): Promise<void> {
    this.stopped = true;
    if (this.coreTimer !== null) clearTimeout(this.coreTimer);
    this.failPending('server stopping');
    await super.stop();
    await this.transport.stop();
    await this.appendChain.catch(() => undefined);
    await this.storage.close();
  }

  // ---- the event loop around the core ----------------------------------------------

  private enqueue(event: QuorumEvent): void {
    if (this.stopped) return;
    this.events.push(event);
    if (!this.draining) void this.drain();
  }

  /**
   * Runs queued events through the core. Effects are carried out synchronously; only a
   * barrier (epochs, truncation, snapshot install) suspends the loop, so a tick's step-down
   * takes effect before the caller of enqueue goes on.
   */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.events.length > 0 && !this.stopped) {
        const event = this.events.shift()!;
        const effects = this.peer.step(event);
        for (const effect of effects) {
          const barrier = this.perform(effect);
          if (barrier !== undefined) await barrier;
        }
      }
    } catch (err) {
      // A failed fsync or a broken invariant: this member cannot go on safely.
      this.log.fatal({ err }, 'ensemble member failed; exiting');
      process.exit(70);
    } finally {
      this.draining = false;
    }
  }

  /** Carries out one effect; returns a promise only for barriers. */
  private perform(effect: QuorumEffect): Promise<void> | undefined {
    switch (effect.kind) {
      case 'send':
        this.transport.send(effect.to, effect.msg);
        return;
      case 'disconnect':
        this.transport.disconnect(effect.peer, effect.reason);
        return;
      case 'persistTxns':
        this.persist(effect.entries);
        return;
      case 'truncateLog': {
        const zxid = effect.zxid;
        return this.appendChain.then(() => this.storage.truncateAfter(zxid));
      }
      case 'persistAcceptedEpoch':
        return this.storage.persistAcceptedEpoch(effect.epoch);
      case 'persistCurrentEpoch':
        return this.storage.persistCurrentEpoch(effect.epoch);
      case 'installSnapshot': {
        const { zxid, data } = effect;
        return this.appendChain.then(async () => {
          const tree = this.payloads.tree(data);
          await this.storage.installSnapshot(zxid, tree);
          this.replaceTree(tree);
        });
      }
      case 'apply':
        this.applyCommitted(effect.zxid, effect.payload, effect.origin);
        return;
      case 'takeSnapshot':
        this.events.unshift({ kind: 'snapshotTaken', zxid: this.tree.lastZxid, data: encodeTreeSnapshot(this.tree) });
        return;
      case 'syncDone':
        this.pendingSyncs.get(effect.requestId)?.resolve();
        this.pendingSyncs.delete(effect.requestId);
        return;
      case 'requestRejected':
        this.rejectRequest(effect.requestId, effect.reason);
        return;
      case 'roleChanged':
        this.roleChanged(effect.role, effect.leader, effect.serving);
        return;
      case 'sessionTouches':
        this.leaderTouches(effect.touches);
        return;
      case 'revalidateRequest':
        this.enqueue({ kind: 'revalidateAnswer', to: effect.from, sessionId: effect.sessionId, valid: this.leaderRevalidate(effect.sessionId, effect.timeoutMs) });
        return;
      case 'sessionRevalidated': {
        const waiters = this.pendingRevalidations.get(effect.sessionId) ?? [];
        this.pendingRevalidations.delete(effect.sessionId);
        for (const w of waiters) w(effect.valid);
        return;
      }
    }
    return undefined;
  }

  // ---- the client side checks the clock first ------------------------------------------

  override request(conn: ServerConnection, header: RequestHeader, body: JuteReader): Job {
    this.catchUpClock();
    if (!this.serving) {
      // Lost its role between the request's arrival and now: the client goes elsewhere.
      return { write: false, start: () => ({ frame: null, close: 'server is not serving' }) };
    }
    return super.request(conn, header, body);
  }

  override handshake(conn: ServerConnection, request: ConnectRequest): Promise<ConnectResponse | null> {
    this.catchUpClock();
    return super.handshake(conn, request);
  }

  override fourLetterWord(word: string): string | null {
    this.catchUpClock();
    return super.fourLetterWord(word);
  }

  /** Appends in order; the core hears `durable` once the group commit covering them is done. */
  private persist(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const last = entries[entries.length - 1]!.zxid;
    const writes = entries.map((e) => this.storage.appendTxn(e.zxid, e.payload));
    this.appendChain = Promise.all(writes).then(() => this.enqueue({ kind: 'durable', zxid: last }));
    this.appendChain.catch((err) => {
      this.log.fatal({ err }, 'txn log write failed; exiting');
      process.exit(70);
    });
  }

  private applyCommitted(zxid: bigint, payload: Uint8Array, origin: { sid: number; requestId: number } | null): void {
    // Total: bytes that are not a txn apply as an error txn, the same on every member.
    const txn = { ...this.payloads.txn(payload, (reason) => this.log.warn({ zxid: hex(zxid), reason }, 'committed txn is malformed; applied as an error')), zxid };
    const result = this.applyTxn(txn);
    if (origin === null || origin.sid !== this.serverId) return;
    const pending = this.pendingWrites.get(origin.requestId);
    if (pending === undefined) return;
    this.pendingWrites.delete(origin.requestId);
    pending.waiter.committed(txn, result);
  }

  private replaceTree(tree: DataTree): void {
    this.tree = tree;
    this.tracker.ids().forEach((id) => this.tracker.remove(id));
    for (const [id, entry] of tree.sessions) this.tracker.add(id, entry.timeout, this.now());
  }

  private roleChanged(role: Role, leader: number | null, serving: boolean): void {
    const was = this.serving;
    this.role = role;
    this.leader = leader;
    this.log.info({ role, leader, serving, zxid: hex(this.tree.lastZxid) }, 'role changed');
    if (role === 'leading' && serving && !was) {
      // A new leader has heard from nobody yet: every session gets a full timeout from now.
      for (const [id, entry] of this.tree.sessions) this.tracker.add(id, entry.timeout, this.now());
    }
    if (was && !serving) {
      this.failPending(`this server stopped ${role === 'looking' ? 'following a leader' : 'serving'}`);
      this.closeAllConnections('server lost its quorum');
    }
    this.serving = serving;
  }

  private failPending(reason: string): void {
    const err = new ZkError(ErrorCode.CONNECTIONLOSS, reason);
    const writes = [...this.pendingWrites.values()];
    this.pendingWrites.clear();
    for (const p of writes) p.waiter.lost(err);
    for (const p of this.pendingSyncs.values()) p.reject(err);
    this.pendingSyncs.clear();
    for (const waiters of this.pendingRevalidations.values()) for (const w of waiters) w(false);
    this.pendingRevalidations.clear();
  }

  private rejectRequest(requestId: number, reason: string): void {
    const err = new ZkError(ErrorCode.CONNECTIONLOSS, `request not accepted: ${reason}`);
    const write = this.pendingWrites.get(requestId);
    this.pendingWrites.delete(requestId);
    write?.waiter.lost(err);
    this.pendingSyncs.get(requestId)?.reject(err);
    this.pendingSyncs.delete(requestId);
  }

  // ---- Committer --------------------------------------------------------------------

  private submitWrite(request: WriteRequest, waiter: WriteWaiter): void {
    if (!this.serving) {
      waiter.lost(new ZkError(ErrorCode.CONNECTIONLOSS, 'not serving'));
      return;
    }
    const requestId = this.nextRequestId++;
    const payload = encodeTxnRequest({ ...request, time: this.now() });
    this.pendingWrites.set(requestId, { request, waiter });
    this.enqueue({ kind: 'clientWrite', requestId, payload });
  }

  // ---- sessions across the ensemble ---------------------------------------------------

  override sync(): Promise<void> {
    if (!this.serving) return Promise.reject(new ZkError(ErrorCode.CONNECTIONLOSS, 'not serving'));
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      this.pendingSyncs.set(requestId, { resolve, reject });
      this.enqueue({ kind: 'clientSync', requestId });
    });
  }

  protected override tracksExpiry(): boolean {
    return this.role === 'leading';
  }

  override touchSession(conn: { sessionId: bigint; sessionTimeout: number }): void {
    if (this.role === 'leading') this.tracker.touch(conn.sessionId, this.now());
    else if (conn.sessionId !== 0n) this.touched.set(conn.sessionId, conn.sessionTimeout);
  }

  /** Learners hand the leader the sessions they heard from, on their next PING reply. */
  private flushTouches(): void {
    if (this.touched.size === 0 || this.role === 'leading') return;
    const data = packr.pack([...this.touched]);
    this.touched.clear();
    this.enqueue({ kind: 'sessionTouch', data });
  }

  private leaderTouches(touches: readonly Uint8Array[]): void {
    for (const bytes of touches) {
      let pairs: [bigint, number][];
      try {
        pairs = packr.unpack(bytes) as [bigint, number][];
      } catch {
        continue;
      }
      if (!Array.isArray(pairs)) continue;
      for (const pair of pairs) {
        if (!Array.isArray(pair) || typeof pair[0] !== 'bigint' || !Number.isSafeInteger(pair[1]) || pair[1] <= 0) continue;
        const [id, timeout] = pair as [bigint, number];
        if (!this.tracker.touch(id, this.now()) && this.tree.sessions.has(id)) this.tracker.add(id, timeout, this.now());
      }
    }
  }

  private leaderRevalidate(sessionId: bigint, timeoutMs: number): boolean {
    if (!this.tree.sessions.has(sessionId) || this.tracker.isClosing(sessionId)) return false;
    this.tracker.add(sessionId, timeoutMs, this.now());
    return true;
  }

  protected override async revalidate(sessionId: bigint, timeOut: number): Promise<boolean> {
    if (!this.serving) return false;
    if (this.role === 'leading') return this.leaderRevalidate(sessionId, timeOut);
    return new Promise<boolean>((resolve) => {
      const list = this.pendingRevalidations.get(sessionId) ?? [];
      list.push(resolve);
      this.pendingRevalidations.set(sessionId, list);
      this.enqueue({ kind: 'revalidateSession', sessionId, timeoutMs: timeOut });
    });
  }

  // ---- what the four-letter words show ---------------------------------------------------

  override mode(): string {
    if (!this.serving) return 'looking';
    return this.role === 'leading' ? 'leader' : this.role === 'observing' ? 'observer' : 'follower';
  }

  override roleMetrics(): [string, string | number][] {
    const rows: [string, string | number][] = [
      ['zk_peer_state', `${this.role} - ${this.serving ? 'broadcast' : 'not serving'}`],
      ['zk_leader_sid', this.leader ?? -1],
      ['zk_quorum_epoch', String(this.peer.currentEpoch)],
      ['zk_peer_frames_sent', this.transport.framesSent],
      ['zk_peer_frames_received', this.transport.framesReceived],
    ];
    const leader = this.peer.leaderRole;
    if (leader !== null) {
      const followers = this.peers.filter((p) => p.sid !== this.serverId && p.role === 'participant');
      const observers = this.peers.filter((p) => p.role === 'observer');
      const synced = (list: readonly PeerSpec[]) => list.filter((p) => leader.learnerPhase(p.sid) === LearnerPhase.upToDate).length;
      rows.push(['zk_learners', followers.length + observers.length]);
      rows.push(['zk_synced_followers', synced(followers)]);
      rows.push(['zk_synced_observers', synced(observers)]);
      rows.push(['zk_pending_syncs', this.pendingSyncs.size]);
    }
    return rows;
  }
}
