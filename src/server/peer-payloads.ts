import type { DataTree, DataTreeOptions } from '../data/data-tree.js';
import { OpCode } from '../protocol/constants.js';
import { decodeTreeSnapshot } from '../data/tree-snapshot.js';
import { decodeTxn } from '../data/txn-codec.js';
import type { Txn } from '../data/txn.js';
import { readTxnSessionId } from '../data/txn-reader.js';
import type { PayloadValidator } from '../quorum/index.js';

/** A closeSession txn alone packs seven fields (txn-codec.ts): a msgpack fixarray of 7. */
const closeSessionFirstByte = 0x97;

/** A txn record is a msgpack array (TxnWriter); the older map form is only ever read from disk. */
function isArrayRecord(payload: Uint8Array): boolean {
  const first = payload[0];
  return first !== undefined && ((first & 0xf0) === 0x90 || first === 0xdc || first === 0xdd);
}

/**
 * The data tree's say on bytes from peers: a txn payload must decode as a txn this server can
 * apply, a snapshot as a tree it can restore. Bytes are decoded once: what was checked here is
 * what the shell applies or installs (`txn`, `tree`).
 */
export class TreePayloads implements PayloadValidator {
  private readonly decoded = new WeakMap<Uint8Array, DataTree>();
  private readonly decodedTxns = new WeakMap<Uint8Array, Txn>();

  constructor(private readonly options: DataTreeOptions) {}

  txnProblem(payload: Uint8Array): string | null {
    if (!isArrayRecord(payload)) return 'not a txn record';
    this.decodeProblem = null;
    const txn = decodeTxn(payload, 0, payload.length, this.noteDecodeProblem);
    const problem = this.decodeProblem;
    if (problem === null) this.decodedTxns.set(payload, txn);
    return problem;
  }

  /** The first problem decodeTxn reported; one callback for every check, not a closure each (a forwarded write is checked once). */
  private decodeProblem: string | null = null;
  private readonly noteDecodeProblem = (reason: string): void => {
    this.decodeProblem ??= reason;
  };

  /** The txn in a payload that passed txnProblem (decoded then), or decoded now (total: bytes that are not a txn decode as an error txn, reported to `problem`). */
  txn(payload: Uint8Array, problem?: (reason: string) => void): Txn {
    const txn = this.decodedTxns.get(payload);
    if (txn === undefined) return decodeTxn(payload, 0, payload.length, problem);
    this.decodedTxns.delete(payload);
    return txn;
  }

  /** Asked of every write the leader accepts: all but closeSession are told apart by their first byte. */
  sessionClosedBy(payload: Uint8Array): bigint | null {
    if (payload[0] !== closeSessionFirstByte) return null;
    const txn = this.decodedTxns.get(payload) ?? decodeTxn(payload, 0, payload.length);
    return txn.op.type === OpCode.closeSession ? txn.sessionId : null;
  }

  /** The txn's session, asked of every write the leader accepts: read from the header alone, or decoded when that is not in the usual form. */
  sessionOf(payload: Uint8Array): bigint | null {
    if (!isArrayRecord(payload)) return null;
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    return readTxnSessionId(bytes, 0, bytes.length) ?? (this.decodedTxns.get(payload) ?? decodeTxn(payload, 0, payload.length)).sessionId;
  }

  snapshotProblem(data: Uint8Array): string | null {
    try {
      this.decoded.set(data, decodeTreeSnapshot(data, this.options));
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The tree in a snapshot that passed snapshotProblem (decoded then), or decoded now. */
  tree(data: Uint8Array): DataTree {
    const tree = this.decoded.get(data);
    this.decoded.delete(data);
    return tree ?? decodeTreeSnapshot(data, this.options);
  }
}
