import type { Origin } from './messages.js';
import type { Zxid } from './zxid.js';

/**
 * The replicated state machine the server plugs in (the DataTree in production, a hash
 * chain in the simulator). The shell drives it from effects: `apply` in zxid order,
 * `takeSnapshot` → `snapshot()`, `installSnapshot` → `restore()`. It must be deterministic:
 * the same txns in the same order yield the same state on every server.
 */
export interface ReplicatedStateMachine {
  /** Applies one committed txn; `origin` names the local request it answers, if any. */
  apply(zxid: Zxid, payload: Uint8Array, origin: Origin | null): void;
  /** The zxid of the last applied txn. */
  lastAppliedZxid(): Zxid;
  /** Serializes the whole state as of the last applied txn. */
  snapshot(): { zxid: Zxid; data: Uint8Array };
  /** Replaces the whole state with a snapshot taken by `snapshot()` on some server. */
  restore(zxid: Zxid, data: Uint8Array): void;
}

/**
 * What the state machine says about bytes before the core accepts them from a peer: a txn
 * payload it could not apply, or a snapshot it could not restore, is refused like any other
 * malformed message (the link closes), so nothing a peer sends can fail later in `apply` or
 * `restore`. Each returns why the bytes are unusable, or null when they are fine. Pure:
 * the same bytes always get the same answer.
 */
export interface PayloadValidator {
  txnProblem(payload: Uint8Array): string | null;
  snapshotProblem(data: Uint8Array): string | null;
  /** The session a txn closes (a client's closeSession or an expiry), or null: the leader stops renewing it once the close is accepted. */
  sessionClosedBy(payload: Uint8Array): bigint | null;
  /** The session a txn was written for, or null (none, or bytes that do not say): the leader checks it still lives where the write came from. */
  sessionOf(payload: Uint8Array): bigint | null;
}

/** Accepts any bytes: for a state machine that can apply whatever it is given. */
export const acceptAnyPayload: PayloadValidator = Object.freeze({
  txnProblem: () => null,
  snapshotProblem: () => null,
  sessionClosedBy: () => null,
  sessionOf: () => null,
});
