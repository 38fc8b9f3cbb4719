import type { LogEntry } from './journal.js';
import type { Origin, PeerMessage, RejectReason } from './messages.js';
import type { Zxid } from './zxid.js';

export const Role = {
  looking: 'looking',
  leading: 'leading',
  following: 'following',
  observing: 'observing',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/**
 * Effects that must be durable before the shell performs any later effect (they are rare:
 * epochs, truncation, snapshot install). `barrier: true` is part of their type, so an
 * interpreter tells them apart by the field and no list of kinds can go stale.
 */
export type BarrierEffect =
  /** Remove every logged txn above `zxid`. */
  | { readonly kind: 'truncateLog'; readonly barrier: true; readonly zxid: Zxid }
  /** Write the acceptedEpoch file. */
  | { readonly kind: 'persistAcceptedEpoch'; readonly barrier: true; readonly epoch: bigint }
  /** Write the currentEpoch file. */
  | { readonly kind: 'persistCurrentEpoch'; readonly barrier: true; readonly epoch: bigint }
  /** Persist the snapshot, drop the whole log, and reset the state machine to it. */
  | { readonly kind: 'installSnapshot'; readonly barrier: true; readonly zxid: Zxid; readonly data: Uint8Array };

/**
 * What the shell must do, in the order given: barriers (above), then these, which need no
 * wait. `persistTxns` is asynchronous: the shell appends, group-commits, and reports with a
 * `durable` event. ACKs are withheld by the core until that event, so no send can overtake
 * the fsync it depends on.
 */
export type QuorumEffect = BarrierEffect | ImmediateEffect;

export type ImmediateEffect = (
  | { readonly kind: 'send'; readonly to: number; readonly msg: PeerMessage }
  /** Close the connection to `peer` (we abandoned it); in-flight messages may be dropped. The
   * reason is for the log: why this server gave up on the link (a protocol violation, say). */
  | { readonly kind: 'disconnect'; readonly peer: number; readonly reason: string }
  /** Append txns to the log; report a `durable` event once fsynced. */
  | { readonly kind: 'persistTxns'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'apply'; readonly zxid: Zxid; readonly payload: Uint8Array; readonly origin: Origin | null }
  /** Serialize the state machine as of every `apply` emitted so far; answer with `snapshotTaken`. */
  | { readonly kind: 'takeSnapshot' }
  /** A client sync on this server is complete (every earlier commit is applied). */
  | { readonly kind: 'syncDone'; readonly requestId: number }
  /** A local client request failed without being proposed (its outcome is known: not applied). */
  | { readonly kind: 'requestRejected'; readonly requestId: number; readonly reason: RejectReason }
  /** Role or readiness changed; on leaving a role the shell fails pending client requests as
   * "connection loss" (their outcome is unknown, as in ZooKeeper). */
  | {
      readonly kind: 'roleChanged';
      readonly role: Role;
      readonly leader: number | null;
      readonly epoch: bigint;
      readonly serving: boolean;
    }
  /** Serving leader only: the session's time ran out; the shell proposes its close. */
  | { readonly kind: 'expireSession'; readonly sessionId: bigint }
  /** The answer to a `revalidateSession` event (see Revalidation): valid sessions were renewed. */
  | { readonly kind: 'sessionRevalidated'; readonly sessionId: bigint; readonly answer: Revalidation }
) & { readonly barrier?: never };

/**
 * A reconnecting session's fate: 'valid' (renewed) and 'invalid' (not in the table, or expiring)
 * are a deciding leader's word; 'unknown' is a member that cannot ask one (it stopped serving),
 * and its client must try elsewhere rather than be told its session expired.
 */
export type Revalidation = 'valid' | 'invalid' | 'unknown';

export type QuorumEffectKind = QuorumEffect['kind'];

/** Effects accumulate in call order; handlers push onto the one sink of the current step. */
export interface EffectSink {
  push(effect: QuorumEffect): void;
}

/**
 * The peer's sink. Its buffer lasts across steps, so a step pays for an array of its own
 * effects only (an array pushed to afresh reserves 16 slots: about 180 bytes a step).
 */
export class EffectBuffer implements EffectSink {
  private readonly items: (QuorumEffect | undefined)[] = [];
  private count = 0;

  push(effect: QuorumEffect): void {
    this.items[this.count++] = effect;
  }

  /** This step's effects, in order; the sink is empty after. */
  take(): QuorumEffect[] {
    const effects = this.items.slice(0, this.count) as QuorumEffect[];
    this.clear();
    return effects;
  }

  /** Drops what was pushed outside a step. */
  clear(): void {
    // A loop, not Array.prototype.fill: that is a call into C++, and this runs every step.
    for (let i = 0; i < this.count; i++) this.items[i] = undefined;
    this.count = 0;
  }
}
