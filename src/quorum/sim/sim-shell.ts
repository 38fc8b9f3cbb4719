import type { QuorumEffect } from '../effects.js';
import type { QuorumEvent } from '../events.js';
import type { QuorumLimits } from '../limits.js';
import { checkPeerMessage, peerMessageTuple } from '../message-schema.js';
import type { Origin, PeerMessage } from '../messages.js';
import { zxidToHex, type Zxid } from '../zxid.js';
import type { FaultPlan } from './fault-plan.js';
import { decodeSimWrite, sessionKeyBase, simSessionId } from './hash-chain.js';
import type { Delivery, VirtualNetwork } from './network.js';
import type { Prng } from './prng.js';
import type { SimSessions } from './sim-sessions.js';
import { check, type SimOracle } from './sim-oracle.js';
import type { SimEvent, SimNode, SimStats, WriteRecord } from './sim-types.js';

/** What performing effects reaches in the simulator. */
export interface ShellHost {
  readonly prng: Prng;
  readonly now: number;
  readonly tickCount: number;
  readonly nodes: ReadonlyMap<number, SimNode>;
  readonly faults: FaultPlan;
  readonly limits: QuorumLimits;
  readonly network: VirtualNetwork;
  readonly stats: SimStats;
  readonly sessions: SimSessions;
  readonly oracle: SimOracle;
  readonly writes: Map<number, WriteRecord>;
  readonly onEffect: ((sid: number, effect: QuorumEffect) => void) | null;
  schedule(event: SimEvent): void;
  log(line: string): void;
}

/**
 * The shell a real server has, over the virtual network and disks: feeds each node's core
 * its events (messages, fsyncs done, ticks) and performs the effects it returns, checking on
 * the way what the oracle cannot see from outside (well-formed sends, idle ticks that do
 * nothing, epochs that never go back, snapshots never older than the state).
 */
export class SimShell {
  constructor(private readonly host: ShellHost) {}

  /** Feeds the node's core one event and performs its effects; a paused node queues it. */
  feed(node: SimNode, event: QuorumEvent): void {
    if (!node.up) return;
    if (node.pausedUntilTick > this.host.tickCount) {
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

  /** Ends a pause: the node's queued events, in order. */
  resume(node: SimNode): void {
    node.pausedUntilTick = 0;
    this.host.sessions.unsettle([node.sid]);
    const backlog = node.backlog;
    node.backlog = [];
    this.host.log(`resume ${node.sid} with ${backlog.length} queued events`);
    for (const event of backlog) this.feed(node, event);
  }

  deliver(delivery: Delivery): void {
    if (!this.host.network.isCurrent(delivery)) return;
    const node = this.host.nodes.get(delivery.to)!;
    if (delivery.item.kind === 'disconnected') this.feed(node, { kind: 'disconnected', peer: delivery.from });
    else this.feed(node, { kind: 'message', from: delivery.from, msg: delivery.item.msg });
  }

  fsyncDone(sid: number, incarnation: number): void {
    const node = this.host.nodes.get(sid)!;
    if (node.incarnation !== incarnation || !node.up) return;
    const zxid = node.disk.completeFsync();
    if (zxid !== null) this.feed(node, { kind: 'durable', zxid });
    this.maybeStartFsync(node);
  }

  /** The core's session table mirrors the state machine's. */
  checkSessionTable(node: SimNode): void {
    if (!node.up || node.pausedUntilTick > this.host.tickCount) return;
    const table = node.sm.sessions().length;
    check(node.peer.sessions.sessionCount === table, `${node.sid}: core holds ${node.peer.sessions.sessionCount} sessions, state machine ${table}`);
  }

  perform(node: SimNode, effect: QuorumEffect): void {
    const host = this.host;
    switch (effect.kind) {
      case 'send': this.performSend(node, effect.to, effect.msg); break;
      case 'disconnect':
        host.log(`${node.sid} disconnects ${effect.peer}: ${effect.reason}`);
        host.network.reset(host.now, node.sid, effect.peer, [effect.peer]);
        break;
      case 'persistTxns': this.performPersist(node, effect.entries); break;
      case 'truncateLog':
        node.disk.truncate(effect.zxid);
        node.truncations++;
        host.stats.truncations++;
        host.log(`${node.sid} truncate to ${zxidToHex(effect.zxid)}`);
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
        host.schedule({ time: host.now + 1, seq: 0, kind: 'local', sid: node.sid, incarnation: node.incarnation, event: { kind: 'snapshotTaken', zxid, data } });
        break;
      }
      case 'syncDone': this.performSyncDone(node, effect.requestId); break;
      case 'requestRejected': this.performRejected(node, effect.requestId); break;
      case 'roleChanged': this.performRoleChanged(node, effect); break;
      case 'expireSession': host.sessions.expired(node.sid, effect.sessionId); break;
      case 'sessionRevalidated': host.sessions.revalidated(node.sid, effect.sessionId, effect.answer); break;
    }
    host.onEffect?.(node.sid, effect);
  }

  /** Starts the node's next fsync, unless one runs, none is owed, or its disk is stalled. */
  maybeStartFsync(node: SimNode): void {
    if (!node.up || node.fsyncStalled || node.disk.fsyncInFlight || !node.disk.hasUnsynced) return;
    node.disk.startFsync();
    const delay = this.host.prng.range(1, this.host.faults.fsyncDelayMax);
    this.host.schedule({ time: this.host.now + delay, seq: 0, kind: 'fsync', sid: node.sid, incarnation: node.incarnation });
  }

  /** The node's clients lose their connections: their writes' outcomes become unknown. */
  failPending(node: SimNode): void {
    for (const pending of node.pending.values()) {
      if (pending.kind === 'write') this.host.writes.get(pending.writeId)!.status = 'unknown';
    }
    node.pending.clear();
  }

  /** Whatever the core sends must pass the receiver's schema check, and no SNAP chunk may exceed its limit. */
  private performSend(node: SimNode, to: number, msg: PeerMessage): void {
    const { limits } = this.host;
    const checked = checkPeerMessage(peerMessageTuple(msg));
    check(checked.ok, `${node.sid} sent a malformed ${msg.type}: ${checked.ok ? '' : checked.reason}`);
    check(msg.type !== 'snapChunk' || msg.data.length <= limits.snapChunkBytes, `${node.sid} sent a SNAP chunk over ${limits.snapChunkBytes} bytes`);
    this.host.sessions.sent(node.sid, msg);
    this.host.network.send(this.host.now, node.sid, to, msg);
  }

  private performPersist(node: SimNode, entries: readonly { zxid: Zxid; payload: Uint8Array }[]): void {
    for (const entry of entries) {
      const write = decodeSimWrite(entry.payload);
      this.host.oracle.logged(entry.zxid, write.writeId);
      this.host.sessions.proposed(node.sid, write.key, write.value);
    }
    node.disk.append(entries as never);
    this.maybeStartFsync(node);
  }

  private performInstallSnapshot(node: SimNode, zxid: Zxid, data: Uint8Array): void {
    check(zxid >= node.sm.zxid, `${node.sid}: snapshot ${zxidToHex(zxid)} older than applied ${zxidToHex(node.sm.zxid)}`);
    node.disk.installSnapshot(zxid, data);
    node.sm.restore(zxid, data);
    node.snapshotsInstalled++;
    this.host.stats.snapshotsInstalled++;
    this.host.log(`${node.sid} install snapshot ${zxidToHex(zxid)}`);
    this.host.oracle.checkAgainstCanon(node.sid, node.sm, 'installed snapshot');
    node.coreEvents.push({ kind: 'sessionTable', sessions: node.sm.sessions() });
  }

  private performApply(node: SimNode, zxid: Zxid, payload: Uint8Array, origin: Origin | null): void {
    check(zxid > node.sm.zxid, `${node.sid}: applied ${zxidToHex(zxid)} after ${zxidToHex(node.sm.zxid)}`);
    const index = node.sm.count;
    node.sm.apply(zxid, payload, origin);
    const write = decodeSimWrite(payload);
    if (write.key >= sessionKeyBase) {
      const sessionId = simSessionId(write.key - sessionKeyBase);
      node.coreEvents.push(write.value > 0 ? { kind: 'sessionCreated', sessionId, timeoutMs: write.value } : { kind: 'sessionClosed', sessionId });
    }
    const oracle = this.host.oracle;
    if (oracle.applied(node.sid, index, zxid, node.sm.hash, write.writeId)) this.host.sessions.canonApplied(write.key, write.value);
    oracle.checkQuorumDurable(zxid);
    if (origin !== null && origin.sid === node.sid) this.completeWrite(node, origin.requestId, write.writeId, zxid);
  }

  private completeWrite(node: SimNode, requestId: number, writeId: number, zxid: Zxid): void {
    const pending = node.pending.get(requestId);
    if (pending === undefined) return;
    check(pending.kind === 'write' && pending.writeId === writeId, `${node.sid}: request ${requestId} answered by write ${writeId}`);
    node.pending.delete(requestId);
    const record = this.host.writes.get(writeId)!;
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
    this.host.oracle.rejected(pending.writeId);
    this.host.writes.get(pending.writeId)!.status = 'rejected';
  }

  private performRoleChanged(node: SimNode, effect: QuorumEffect & { kind: 'roleChanged' }): void {
    this.host.log(`${node.sid} ${effect.role}${effect.serving ? ' serving' : ''} leader=${effect.leader} epoch=${effect.epoch}`);
    // Leaving or entering a role drops client connections: outcomes become unknown.
    this.failPending(node);
    this.host.sessions.roleChanged(node.sid);
    if (effect.role !== 'leading' || !effect.serving) return;
    this.host.oracle.established(effect.epoch, node.sid);
    this.host.stats.epochsEstablished++;
  }
}
