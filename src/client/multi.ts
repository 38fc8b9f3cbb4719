import { CreateMode, ErrorCode, OpCode, errorName } from '../protocol/constants.js';
import type { ACL, MultiOp, MultiResult } from '../protocol/records.js';
import { MultiError, zkError, type MultiOpError } from './errors.js';
import { toClientPath, toServerPath, validatePath } from './paths.js';
import type { CreateOptions, DataInput, Op, OpResult } from './types.js';

const openAcl: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

/** Strings are UTF-8; undefined means empty data; null stays null (a node without data). */
export function toBuffer(data: DataInput): Buffer | null {
  if (data === null) return null;
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The wire form of one op. Creates pick their opcode from the mode: CONTAINER uses
 * createContainer (19), the TTL modes createTTL (21), every other mode create2 (15).
 */
export function toMultiOp(op: Op, chroot: string): MultiOp {
  switch (op.op) {
    case 'create': {
      const mode = op.mode ?? 'PERSISTENT';
      const flags: number | undefined = CreateMode[mode];
      if (flags === undefined) throw zkError(ErrorCode.BADARGUMENTS, op.path, `Unknown create mode '${String(mode)}'`);
      const sequential = flags === 2 || flags === 3 || flags === 6;
      validatePath(op.path, sequential);
      const withTtl = flags === 5 || flags === 6;
      if (withTtl && op.ttl === undefined) throw zkError(ErrorCode.BADARGUMENTS, op.path, `Mode ${mode} needs a ttl`);
      if (!withTtl && op.ttl !== undefined) throw zkError(ErrorCode.BADARGUMENTS, op.path, `A ttl needs a *_WITH_TTL mode, not ${mode}`);
      const request = {
        path: toServerPath(chroot, op.path),
        data: toBuffer(op.data),
        acl: op.acl === undefined ? openAcl : [...op.acl],
        flags,
      };
      if (withTtl) return { type: OpCode.createTTL, request: { ...request, ttl: BigInt(op.ttl!) } };
      return { type: flags === 4 ? OpCode.createContainer : OpCode.create2, request };
    }
    case 'delete':
      validatePath(op.path);
      return { type: OpCode.delete, request: { path: toServerPath(chroot, op.path), version: op.version ?? -1 } };
    case 'setData':
      validatePath(op.path);
      return { type: OpCode.setData, request: { path: toServerPath(chroot, op.path), data: toBuffer(op.data), version: op.version ?? -1 } };
    case 'check':
      validatePath(op.path);
      return { type: OpCode.check, request: { path: toServerPath(chroot, op.path), version: op.version ?? -1 } };
    default:
      throw zkError(ErrorCode.BADARGUMENTS, undefined, `Unknown multi op '${(op as { op: string }).op}'`);
  }
}

/** Typed results of a multi; throws MultiError when the server reports a failed op. */
export function multiResults(ops: readonly Op[], results: MultiResult[], chroot: string): OpResult[] {
  const failed = results.findIndex((r) => r.type === OpCode.error && r.err !== ErrorCode.OK && r.err !== ErrorCode.RUNTIMEINCONSISTENCY);
  if (failed >= 0 || results.some((r) => r.type === OpCode.error)) {
    const index = failed >= 0 ? failed : 0;
    const perOp: MultiOpError[] = ops.map((op, i) => {
      const r = results[i];
      const code = r === undefined ? ErrorCode.RUNTIMEINCONSISTENCY : r.type === OpCode.error ? r.err : ErrorCode.OK;
      return { op: op.op, path: op.path, code, codeName: errorName(code) };
    });
    const code = perOp[index]?.code ?? ErrorCode.SYSTEMERROR;
    throw new MultiError(code, ops[index]?.path ?? '', index, perOp);
  }
  return results.map((r): OpResult => {
    switch (r.type) {
      case OpCode.create:
        return { op: 'create', path: toClientPath(chroot, r.path), stat: null };
      case OpCode.create2:
        return { op: 'create', path: toClientPath(chroot, r.path), stat: r.stat };
      case OpCode.delete:
        return { op: 'delete' };
      case OpCode.setData:
        return { op: 'setData', stat: r.stat };
      case OpCode.check:
        return { op: 'check' };
      default:
        throw zkError(ErrorCode.MARSHALLINGERROR, undefined, `Unexpected multi result type ${r.type}`);
    }
  });
}

/** Collects ops for one atomic multi; commit() sends them. */
export class Transaction {
  private readonly list: Op[] = [];

  constructor(private readonly run: (ops: Op[]) => Promise<OpResult[]>) {}

  get ops(): readonly Op[] {
    return this.list;
  }

  create(path: string, data?: DataInput, options: CreateOptions = {}): this {
    const op: Op = { op: 'create', path, data, ...options };
    this.list.push(op);
    return this;
  }

  delete(path: string, version = -1): this {
    this.list.push({ op: 'delete', path, version });
    return this;
  }

  setData(path: string, data: DataInput, version = -1): this {
    this.list.push({ op: 'setData', path, data, version });
    return this;
  }

  check(path: string, version = -1): this {
    this.list.push({ op: 'check', path, version });
    return this;
  }

  commit(): Promise<OpResult[]> {
    return this.run([...this.list]);
  }
}
