// Well-formed but arbitrary peer messages, drawn from the schema itself so that a new message
// type or field is covered without touching this file. Values lean toward the edges of what the
// receiving server holds (its last zxid and the one after, its epochs and the next, zero, the
// largest value the field allows), where an unexpected message is most likely to hurt.
import { FieldKind, checkPeerMessage, peerMessageCodes, peerMessageSchema, peerMessageTypes } from '../../src/quorum/message-schema.js';
import { RejectReason, pingReplyTouchesMax, sessionEntry, type PeerMessage, type PeerMessageType } from '../../src/quorum/messages.js';
import type { QuorumPeer } from '../../src/quorum/peer.js';
import type { Prng } from '../../src/quorum/sim/prng.js';
import { encodeSimWrite } from '../../src/quorum/sim/hash-chain.js';
import { ServerState } from '../../src/quorum/vote.js';
import { zxidEpoch, zxidEpochMax } from '../../src/quorum/zxid.js';

const uint64Max = (1n << 64n) - 1n;

/** What the generator knows of the target, to aim near its state. */
export interface Target {
  readonly peer: QuorumPeer;
  readonly members: readonly number[];
}

function randomBigint(prng: Prng, bits: number): bigint {
  let value = 0n;
  for (let i = 0; i < bits; i += 32) value = (value << 32n) | BigInt(prng.next());
  return value & ((1n << BigInt(bits)) - 1n);
}

function zxidNear(prng: Prng, target: Target): bigint {
  const p = target.peer;
  const epoch = p.epoch >= 0n ? p.epoch : p.acceptedEpoch;
  const start = (e: bigint): bigint => e << 32n;
  const candidates = [
    0n, p.lastLoggedZxid, p.lastLoggedZxid + 1n, p.appliedZxid, p.durableZxid, start(epoch),
    start(epoch) + 1n, start(epoch + 1n), start(zxidEpoch(p.lastLoggedZxid)) + 1n,
    randomBigint(prng, 64), uint64Max,
  ];
  if (p.appliedZxid > 0n) candidates.push(p.appliedZxid - 1n);
  return prng.pick(candidates.filter((z) => z >= 0n && z <= uint64Max));
}

function epochNear(prng: Prng, target: Target): bigint {
  const p = target.peer;
  const candidates = [0n, p.acceptedEpoch, p.acceptedEpoch + 1n, p.currentEpoch, zxidEpochMax, zxidEpochMax - 1n, randomBigint(prng, 32)];
  if (p.epoch >= 0n) candidates.push(p.epoch, p.epoch + 1n);
  return prng.pick(candidates.filter((e) => e >= 0n && e <= zxidEpochMax));
}

function bytes(prng: Prng): Uint8Array {
  switch (prng.int(3)) {
    case 0: return new Uint8Array(0);
    // A payload the simulator's state machine can apply: a forged write.
    case 1: return encodeSimWrite({ writeId: 1_000_000 + prng.int(1_000_000), key: prng.int(16), value: prng.next() });
    default: return Uint8Array.from({ length: prng.int(40) }, () => prng.int(256));
  }
}

function sid(prng: Prng, target: Target): number {
  return prng.pick([...target.members, 0, 255, prng.int(256)]);
}

/** An origin as its wire tuple [sid, requestId]. */
function origin(prng: Prng, target: Target): [sid: number, requestId: number] {
  return [prng.chance(0.6) ? target.peer.self : sid(prng, target), prng.int(50)];
}

function fieldValue(prng: Prng, kind: FieldKind, target: Target): unknown {
  switch (kind) {
    case FieldKind.zxid: return zxidNear(prng, target);
    case FieldKind.voteZxid: return prng.chance(0.1) ? -1n : zxidNear(prng, target);
    case FieldKind.epoch: return epochNear(prng, target);
    case FieldKind.voteEpoch: return prng.chance(0.1) ? -1n : epochNear(prng, target);
    case FieldKind.electionEpoch: return prng.pick([0n, 1n, BigInt(prng.int(20)), randomBigint(prng, 64)]);
    case FieldKind.sid: return sid(prng, target);
    case FieldKind.protocolVersion: return prng.pick([0, 1, 2, 0xffff]);
    case FieldKind.serverState: return prng.pick(Object.values(ServerState));
    case FieldKind.boolean: return prng.chance(0.5);
    case FieldKind.bytes: return bytes(prng);
    case FieldKind.touches: return Array.from({ length: prng.pick([0, 1, 3, pingReplyTouchesMax]) }, () => [prng.pick([1n, 2n, randomBigint(prng, 63)]), prng.pick([1, 30_000, 0x7fffffff])]);
    case FieldKind.origin: return origin(prng, target);
    case FieldKind.originOrNull: return prng.chance(0.3) ? null : origin(prng, target);
    case FieldKind.rejectReason: return prng.pick(Object.values(RejectReason));
    case FieldKind.sessionId: return prng.pick([0n, 1n, -1n, randomBigint(prng, 63)]);
    case FieldKind.timeoutMs: return prng.pick([0, 1, 30_000, 0x7fffffff]);
    case FieldKind.byteCount: return prng.pick([0, 12, 17, prng.int(100), Number.MAX_SAFE_INTEGER]);
  }
}

/** One message of the given type (or a random one), well-formed by construction and checked to be. */
export function arbitraryMessage(prng: Prng, target: Target, type: PeerMessageType = prng.pick(peerMessageTypes)): PeerMessage {
  const tuple: unknown[] = [peerMessageCodes[type]];
  for (const [, kind] of peerMessageSchema[type]) tuple.push(fieldValue(prng, kind, target));
  const checked = checkPeerMessage(tuple);
  if (!checked.ok) throw new Error(`the generator made a malformed ${type}: ${checked.reason}`);
  return checked.msg;
}
