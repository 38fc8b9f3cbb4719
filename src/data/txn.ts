import type { OpCode } from '../protocol/constants.js';
import type {
  CreateRequest,
  Id,
  MultiOp,
  PathRequest,
  PathVersionRequest,
  SetACLRequest,
  SetDataRequest,
} from '../protocol/records.js';

/**
 * A transaction is the client's write as the leader stamped it: zxid, leader time, session,
 * the caller's auth ids, and the operation itself. Every server applies the same txns in
 * zxid order to the same state and so reaches the same result, including the same error
 * for a write that fails (which still consumes its zxid, as in ZooKeeper).
 */
export interface Txn {
  zxid: bigint;
  /** Leader wall-clock milliseconds; becomes ctime/mtime. */
  time: number;
  /** 0n for txns the servers make themselves (container and TTL reaping). */
  sessionId: bigint;
  cxid: number;
  /** The ids the caller's connection held, for ACL checks and the `auth` ACL scheme. */
  authIds: readonly Id[];
  op: TxnOp;
}

export type TxnOp =
  | { type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer | typeof OpCode.createTTL; request: CreateRequest }
  | { type: typeof OpCode.delete; request: PathVersionRequest }
  | { type: typeof OpCode.deleteContainer; request: PathRequest }
  | { type: typeof OpCode.setData; request: SetDataRequest }
  | { type: typeof OpCode.setACL; request: SetACLRequest }
  | { type: typeof OpCode.multi; ops: MultiOp[] }
  | { type: typeof OpCode.createSession; timeout: number }
  | { type: typeof OpCode.closeSession }
  /** A request refused before it could reach the tree; it still takes a zxid. */
  | { type: typeof OpCode.error; err: number };

/** Opcodes that become txns when a client sends them. */
export const writeOpCodes: ReadonlySet<number> = new Set([1, 2, 5, 7, 14, 15, 19, 20, 21]);
