import type { QuorumEvent } from '../events.js';
import type { QuorumLimits } from '../limits.js';
import type { QuorumPeer } from '../peer.js';
import type { Zxid } from '../zxid.js';
import type { VirtualDisk } from './disk.js';
import type { FaultPlan } from './fault-plan.js';
import type { HashChainMachine } from './hash-chain.js';
import type { Delivery } from './network.js';

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

export type WriteStatus = 'pending' | 'acked' | 'rejected' | 'unknown';

/** A client write as the client knows it. */
export interface WriteRecord {
  readonly writeId: number;
  readonly sid: number;
  status: WriteStatus;
  zxid: Zxid | null;
}

export type PendingRequest =
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

export type SimEvent =
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

export function emptySimStats(): SimStats {
  return {
    events: 0, ticks: 0, crashes: 0, partitions: 0, resets: 0, pauses: 0, writesSubmitted: 0, writesAcked: 0,
    writesRejected: 0, writesUnknown: 0, committed: 0, epochsEstablished: 0, snapshotsInstalled: 0, truncations: 0,
    sessionsOpened: 0, sessionsExpired: 0, revalidationsValid: 0,
  };
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
