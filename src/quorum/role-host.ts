import type { EffectSink, QuorumEffect } from './effects.js';
import type { Journal } from './journal.js';
import type { QuorumLimits } from './limits.js';
import type { QuorumView } from './quorum-view.js';
import type { SessionLiveness } from './session-liveness.js';
import type { PayloadValidator } from './state-machine.js';

/** acceptedEpoch and currentEpoch as last persisted (ZooKeeper's two epoch files). */
export interface PersistentEpochs {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
}

/**
 * What a role may touch: the server's identity and limits, the shared journal, epochs and sessions,
 * the effect sink of the current step, and a way to give up and go LOOKING. A role never
 * swaps itself; the peer does that after the handler returns.
 */
export interface RoleHost {
  readonly self: number;
  readonly view: QuorumView;
  readonly limits: QuorumLimits;
  readonly journal: Journal;
  readonly epochs: PersistentEpochs;
  /** Checks txn payloads and snapshots from peers before they are logged or installed. */
  readonly payloads: PayloadValidator;
  /** The member's session liveness: it outlives every role. */
  readonly sessions: SessionLiveness;
  readonly out: EffectSink;
  stepDown(reason: string): void;
}

export function emit(host: RoleHost, effect: QuorumEffect): void {
  host.out.push(effect);
}

export function persistAcceptedEpoch(host: RoleHost, epoch: bigint): void {
  host.epochs.acceptedEpoch = epoch;
  host.out.push({ kind: 'persistAcceptedEpoch', barrier: true, epoch });
}

export function persistCurrentEpoch(host: RoleHost, epoch: bigint): void {
  host.epochs.currentEpoch = epoch;
  host.out.push({ kind: 'persistCurrentEpoch', barrier: true, epoch });
}
