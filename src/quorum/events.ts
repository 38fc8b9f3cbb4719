import type { PeerMessage, SessionEntry } from './messages.js';
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
  /** The replicated session table gained a session (its create applied here). */
  | { readonly kind: 'sessionCreated'; readonly sessionId: bigint; readonly timeoutMs: number }
  /** The replicated session table lost a session (its close applied here). */
  | { readonly kind: 'sessionClosed'; readonly sessionId: bigint }
  /** The whole replicated session table: at start-up, and whenever a snapshot replaced the state. */
  | { readonly kind: 'sessionTable'; readonly sessions: readonly SessionEntry[] }
  /** Sessions this server's clients were heard from since the last such event (one batch per turn). */
  | { readonly kind: 'sessionTouches'; readonly touches: readonly SessionEntry[] }
  /** A session reconnects here: answered by a `sessionRevalidated` effect (perhaps after asking the leader). */
  | { readonly kind: 'revalidateSession'; readonly sessionId: bigint; readonly timeoutMs: number };

export type QuorumEventKind = QuorumEvent['kind'];
