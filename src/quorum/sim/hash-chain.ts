import { sessionEntry, type Origin, type SessionEntry } from '../messages.js';
import type { PayloadValidator, ReplicatedStateMachine } from '../state-machine.js';
import type { Zxid } from '../zxid.js';

/** A simulator write: a unique id, a key and a value, packed in 9 bytes. */
export interface SimWrite {
  readonly writeId: number;
  readonly key: number;
  readonly value: number;
}

export const simPayloadBytes = 9;

export function encodeSimWrite(write: SimWrite): Uint8Array {
  const bytes = new Uint8Array(simPayloadBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, write.writeId);
  view.setUint8(4, write.key);
  view.setUint32(5, write.value);
  return bytes;
}

/**
 * Sessions ride on writes to keys from sessionKeyBase up, one key per session (its slot):
 * value > 0 creates the session with that timeout (ms), 0 closes it. A slot is used once,
 * so a closed session stays closed, in snapshots too.
 */
export const sessionKeyBase = 0x80;
export const sessionSlots = 0x100 - sessionKeyBase;

export function simSessionId(slot: number): bigint {
  return BigInt(slot + 1);
}

export function simSessionKey(sessionId: bigint): number {
  return sessionKeyBase + Number(sessionId) - 1;
}

/** Written by no one: what bytes that are not a write decode as (applying is total, as in the server). */
export const malformedWriteId = -1;

export function decodeSimWrite(payload: Uint8Array): SimWrite {
  if (payload.length !== simPayloadBytes) return { writeId: malformedWriteId, key: -1, value: 0 };
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { writeId: view.getUint32(0), key: view.getUint8(4), value: view.getUint32(5) };
}

/** Snapshot layout: count, hash and entry count (4 bytes each), then 5 bytes per key. */
const snapshotHeaderBytes = 12;
const snapshotEntryBytes = 5;

/** What HashChainMachine can apply and restore: 9-byte writes, snapshots whose length matches their entry count. */
export const hashChainPayloads: PayloadValidator = Object.freeze({
  txnProblem(payload: Uint8Array): string | null {
    return payload.length === simPayloadBytes ? null : `a write is ${simPayloadBytes} bytes, not ${payload.length}`;
  },
  snapshotProblem(data: Uint8Array): string | null {
    if (data.length < snapshotHeaderBytes) return `a snapshot has a ${snapshotHeaderBytes}-byte header; got ${data.length} bytes`;
    const entries = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(8);
    const expected = snapshotHeaderBytes + entries * snapshotEntryBytes;
    return data.length === expected ? null : `a snapshot of ${entries} keys is ${expected} bytes, not ${data.length}`;
  },
  sessionClosedBy(payload: Uint8Array): bigint | null {
    const { key, value } = decodeSimWrite(payload);
    return key >= sessionKeyBase && value === 0 ? simSessionId(key - sessionKeyBase) : null;
  },
  sessionOf(payload: Uint8Array): bigint | null {
    const { key } = decodeSimWrite(payload);
    return key >= sessionKeyBase ? simSessionId(key - sessionKeyBase) : null;
  },
});

/** FNV-1a over the zxid's 8 bytes and the payload, chained from the previous state. */
export function chainHash(previous: number, zxid: Zxid, payload: Uint8Array): number {
  let h = (previous ^ 0x811c9dc5) >>> 0;
  let z = zxid;
  for (let i = 0; i < 8; i++) {
    h = Math.imul(h ^ Number(z & 0xffn), 0x01000193) >>> 0;
    z >>= 8n;
  }
  for (const byte of payload) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/**
 * The simulator's deterministic state machine: a hash chain over every applied txn (so
 * two servers agree on state iff they applied the same txns in the same order) plus a
 * small key-value map for reads.
 */
export class HashChainMachine implements ReplicatedStateMachine {
  count = 0;
  hash = 0;
  zxid: Zxid = 0n;
  readonly kv = new Map<number, number>();

  apply(zxid: Zxid, payload: Uint8Array, _origin: Origin | null): void {
    const write = decodeSimWrite(payload);
    this.hash = chainHash(this.hash, zxid, payload);
    this.count++;
    this.zxid = zxid;
    if (write.writeId !== malformedWriteId) this.kv.set(write.key, write.value);
  }

  /** The open sessions, as the session table of the replicated state. */
  sessions(): SessionEntry[] {
    const out: SessionEntry[] = [];
    for (const [key, value] of this.kv) if (key >= sessionKeyBase && value > 0) out.push(sessionEntry(simSessionId(key - sessionKeyBase), value));
    return out;
  }

  isOpen(sessionId: bigint): boolean {
    return (this.kv.get(simSessionKey(sessionId)) ?? 0) > 0;
  }

  lastAppliedZxid(): Zxid {
    return this.zxid;
  }

  snapshot(): { zxid: Zxid; data: Uint8Array } {
    const data = new Uint8Array(snapshotHeaderBytes + this.kv.size * snapshotEntryBytes);
    const view = new DataView(data.buffer);
    view.setUint32(0, this.count);
    view.setUint32(4, this.hash);
    view.setUint32(8, this.kv.size);
    let offset = snapshotHeaderBytes;
    for (const [key, value] of [...this.kv.entries()].sort((a, b) => a[0] - b[0])) {
      view.setUint8(offset, key);
      view.setUint32(offset + 1, value);
      offset += 5;
    }
    return { zxid: this.zxid, data };
  }

  restore(zxid: Zxid, data: Uint8Array): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.count = view.getUint32(0);
    this.hash = view.getUint32(4);
    this.zxid = zxid;
    this.kv.clear();
    const size = view.getUint32(8);
    for (let i = 0, offset = snapshotHeaderBytes; i < size; i++, offset += snapshotEntryBytes) this.kv.set(view.getUint8(offset), view.getUint32(offset + 1));
  }
}
