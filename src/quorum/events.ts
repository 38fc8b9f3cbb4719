import type { PeerMessage } from './messages.js';
import type { Zxid } from './zxid.js';

/** Everything that can happen to a server's consensus core. Time is only ever a `tick`. */
export type QuorumEvent =
  /** Begin: a LOOKING server announces its vote. Delivered once after construction. */
  | { readonly kind: 'start' }
  /** The shell's timer fired; a paused process must deliver one tick per elapsed interval. */
  | { readonly kind: 'tick' }
  | { readonly kind: 'message'; readonly from: number; readonly msg: PeerMessage }
  /** The FIFO connection to `peer` broke; messages in flight on it were lost. */
  | { readonly kind: 'disconnected'; readonly peer: number }
  /** Every txn appended up to `zxid` is fsynced (one event may cover a whole group commit). */
  | { readonly kind: 'durable'; readonly zxid: Zxid }
  /** Answer to a `takeSnapshot` effect: the state machine serialized at `zxid`. */
  | { readonly kind: 'snapshotTaken'; readonly zxid: Zxid; readonly data: Uint8Array }
  /** A client write arrived on this server; `requestId` is local to this server. */
  | { readonly kind: 'clientWrite'; readonly requestId: number; readonly payload: Uint8Array }
  /** A client sync arrived: done once this server has applied everything the leader had committed. */
  | { readonly kind: 'clientSync'; readonly requestId: number }
  /** Opaque session-touch records to piggyback on the next PING reply (learners only). */
  | { readonly kind: 'sessionTouch'; readonly data: Uint8Array }
  /** A learner asks the leader whether a reconnecting session is still valid. */
  | { readonly kind: 'revalidateSession'; readonly sessionId: bigint; readonly timeoutMs: number }
  /** The leader's session tracker answers a `revalidateRequest` effect. */
  | { readonly kind: 'revalidateAnswer'; readonly to: number; readonly sessionId: bigint; readonly valid: boolean };

export type QuorumEventKind = QuorumEvent['kind'];
