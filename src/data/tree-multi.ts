import { ZkError } from '../errors.js';
import { ErrorCode, OpCode } from '../protocol/constants.js';
import type { MultiOp, MultiResult } from '../protocol/records.js';
import type { NodeEdits } from './node-edits.js';
import type { ApplyResult, TreeChange, TreeOps } from './tree-ops.js';
import type { Txn } from './txn.js';

/**
 * A multi txn: its ops in order, all or nothing. The first op that fails undoes the ones
 * before it; every op then gets an error result (OK before the failure, RUNTIMEINCONSISTENCY
 * after), and watches see no change.
 */
export function applyMulti(ops: TreeOps, edits: NodeEdits, txn: Txn, multiOps: MultiOp[]): ApplyResult {
  const changes: TreeChange[] = [];
  const results: MultiResult[] = [];
  edits.beginMulti();
  let failedAt = -1;
  let failure: number = ErrorCode.OK;
  try {
    ops.checkSession(txn);
  } catch (err) {
    if (!(err instanceof ZkError)) throw err;
    failedAt = 0;
    failure = err.code;
  }
  for (let i = 0; i < multiOps.length && failedAt < 0; i++) {
    try {
      results.push(multiResult(multiOps[i]!, ops.applyWrite(txn, multiOps[i]!, changes)));
    } catch (err) {
      if (!(err instanceof ZkError)) throw err;
      failedAt = i;
      failure = err.code;
    }
  }
  edits.endMulti(failedAt < 0);
  if (failedAt < 0) return { err: 0, response: results, changes };
  const errors: MultiResult[] = multiOps.map((_, i) => ({
    type: OpCode.error,
    err: i < failedAt ? ErrorCode.OK : i === failedAt ? failure : ErrorCode.RUNTIMEINCONSISTENCY,
  }));
  return { err: 0, response: errors, changes: [] };
}

function multiResult(op: MultiOp, response: any): MultiResult {
  switch (op.type) {
    case OpCode.create:
      return { type: OpCode.create, path: response.path };
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return { type: OpCode.create2, path: response.path, stat: response.stat };
    case OpCode.setData:
      return { type: OpCode.setData, stat: response.stat };
    default:
      return { type: op.type } as MultiResult;
  }
}
