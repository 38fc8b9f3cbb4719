import { ErrorCode, OpCode } from '../protocol/constants.js';
import type { JuteReader } from '../protocol/jute.js';
import {
  Children2ResponseCodec,
  ChildrenResponseCodec,
  CountResponseCodec,
  CreateRequestCodec,
  CreateTTLRequestCodec,
  GetACLResponseCodec,
  GetDataResponseCodec,
  PathRequestCodec,
  PathResponseCodec,
  PathStatResponseCodec,
  PathVersionRequestCodec,
  PathWatchRequestCodec,
  SetACLRequestCodec,
  SetDataRequestCodec,
  StatResponseCodec,
  WhoAmIResponseCodec,
  readMultiResponse,
  writeMultiRequest,
  type ACL,
  type ClientInfo,
  type CreateRequest,
  type MultiOp,
  type Stat,
} from '../protocol/records.js';
import { zkError } from './errors.js';
import { multiResults, toBuffer, toMultiOp } from './multi.js';
import { toClientPath, toServerPath, validatePath } from './paths.js';
import { call, checkReply, type RequestSink } from './request-queue.js';
import type {
  AclResult,
  ChildrenResult,
  CreateOptions,
  CreateResult,
  DataInput,
  DataResult,
  Op,
  OpResult,
  ReadOp,
  ReadOpResult,
  VersionOption,
  WatchOptions,
} from './types.js';
import type { Watches } from './watches.js';

/**
 * The node operations as requests: each builds its record with the chroot applied, and
 * decodes the reply into client paths, registering any watch it left once the server agreed.
 */
export class Operations {
  constructor(
    private readonly sink: RequestSink,
    private readonly chroot: string,
    private readonly watches: Watches,
  ) {}

  // ---- reads -----------------------------------------------------------------------------

  exists(path: string, options: WatchOptions): Promise<Stat | null> {
    validatePath(path);
    const listener = this.watches.listenerOf(options.watch);
    return call(this.sink, OpCode.exists, (w) => PathWatchRequestCodec.write(w, { path: this.server(path), watch: listener !== null }), (h, r) => {
      if (h.err === ErrorCode.NONODE) {
        if (listener !== null) this.watches.add('exist', path, listener);
        return null;
      }
      checkReply(h, path);
      if (listener !== null) this.watches.add('data', path, listener);
      return StatResponseCodec.read(r).stat;
    });
  }

  getData(path: string, options: WatchOptions): Promise<DataResult> {
    validatePath(path);
    const listener = this.watches.listenerOf(options.watch);
    return call(this.sink, OpCode.getData, (w) => PathWatchRequestCodec.write(w, { path: this.server(path), watch: listener !== null }), (h, r) => {
      checkReply(h, path);
      if (listener !== null) this.watches.add('data', path, listener);
      return GetDataResponseCodec.read(r);
    });
  }

  async getChildren(path: string, options: WatchOptions): Promise<string[]> {
    return (await this.childrenRequest(OpCode.getChildren, path, options)).children;
  }

  getChildrenWithStat(path: string, options: WatchOptions): Promise<ChildrenResult> {
    return this.childrenRequest(OpCode.getChildren2, path, options) as Promise<ChildrenResult>;
  }

  private childrenRequest(opcode: number, path: string, options: WatchOptions): Promise<{ children: string[]; stat?: Stat }> {
    validatePath(path);
    const listener = this.watches.listenerOf(options.watch);
    return call(this.sink, opcode, (w) => PathWatchRequestCodec.write(w, { path: this.server(path), watch: listener !== null }), (h, r) => {
      checkReply(h, path);
      if (listener !== null) this.watches.add('child', path, listener);
      return opcode === OpCode.getChildren2 ? Children2ResponseCodec.read(r) : ChildrenResponseCodec.read(r);
    });
  }

  getACL(path: string): Promise<AclResult> {
    return this.pathRequest(OpCode.getACL, path, (r) => GetACLResponseCodec.read(r));
  }

  getAllChildrenNumber(path: string): Promise<number> {
    return this.pathRequest(OpCode.getAllChildrenNumber, path, (r) => CountResponseCodec.read(r).totalNumber);
  }

  sync(path: string): Promise<string> {
    return this.pathRequest(OpCode.sync, path, (r) => toClientPath(this.chroot, PathResponseCodec.read(r).path));
  }

  getEphemerals(prefix: string): Promise<string[]> {
    const serverPrefix = this.chroot === '' ? prefix : toServerPath(this.chroot, prefix);
    return call(this.sink, OpCode.getEphemerals, (w) => PathRequestCodec.write(w, { path: serverPrefix }), (h, r) => {
      checkReply(h, prefix);
      const inside = (p: string): boolean => this.chroot === '' || p === this.chroot || p.startsWith(`${this.chroot}/`);
      return ChildrenResponseCodec.read(r).children.filter(inside).map((p) => toClientPath(this.chroot, p));
    });
  }

  whoAmI(): Promise<ClientInfo[]> {
    return call(this.sink, OpCode.whoAmI, () => undefined, (h, r) => {
      checkReply(h);
      return WhoAmIResponseCodec.read(r).clientInfo;
    });
  }

  // ---- writes ----------------------------------------------------------------------------

  create(path: string, data: DataInput, options: CreateOptions): Promise<CreateResult> {
    const op = toMultiOp({ op: 'create', path, data, ...options }, this.chroot);
    const codec = op.type === OpCode.createTTL ? CreateTTLRequestCodec : CreateRequestCodec;
    return call(this.sink, op.type, (w) => codec.write(w, op.request as CreateRequest), (h, r) => {
      checkReply(h, path);
      const result = PathStatResponseCodec.read(r);
      return { path: toClientPath(this.chroot, result.path), stat: result.stat };
    });
  }

  delete(path: string, options: VersionOption): Promise<void> {
    validatePath(path);
    return call(this.sink, OpCode.delete, (w) => PathVersionRequestCodec.write(w, { path: this.server(path), version: options.version ?? -1 }), (h) => {
      checkReply(h, path);
    });
  }

  setData(path: string, data: DataInput, options: VersionOption): Promise<Stat> {
    validatePath(path);
    const bytes = toBuffer(data);
    return call(this.sink, OpCode.setData, (w) => SetDataRequestCodec.write(w, { path: this.server(path), data: bytes, version: options.version ?? -1 }), (h, r) => {
      checkReply(h, path);
      return StatResponseCodec.read(r).stat;
    });
  }

  setACL(path: string, acl: readonly ACL[], options: VersionOption): Promise<Stat> {
    validatePath(path);
    return call(this.sink, OpCode.setACL, (w) => SetACLRequestCodec.write(w, { path: this.server(path), acl: [...acl], version: options.version ?? -1 }), (h, r) => {
      checkReply(h, path);
      return StatResponseCodec.read(r).stat;
    });
  }

  multi(ops: readonly Op[]): Promise<OpResult[]> {
    const multiOps = ops.map((op) => toMultiOp(op, this.chroot));
    return call(this.sink, OpCode.multi, (w) => writeMultiRequest(w, multiOps), (h, r) => {
      checkReply(h);
      return multiResults(ops, readMultiResponse(r), this.chroot);
    });
  }

  multiRead(ops: readonly ReadOp[]): Promise<ReadOpResult[]> {
    for (const op of ops) validatePath(op.path);
    const multiOps: MultiOp[] = ops.map((op) => ({
      type: op.op === 'getData' ? OpCode.getData : OpCode.getChildren,
      request: { path: this.server(op.path), watch: false },
    }));
    return call(this.sink, OpCode.multiRead, (w) => writeMultiRequest(w, multiOps), (h, r) => {
      checkReply(h);
      const results = readMultiResponse(r);
      return ops.map((op, i): ReadOpResult => {
        const res = results[i];
        if (res === undefined) return { op: 'error', path: op.path, error: zkError(ErrorCode.MARSHALLINGERROR, op.path, 'Missing result') };
        if (res.type === OpCode.getData) return { op: 'getData', path: op.path, data: res.data, stat: res.stat };
        if (res.type === OpCode.getChildren) return { op: 'getChildren', path: op.path, children: res.children };
        const code = res.type === OpCode.error ? res.err : ErrorCode.MARSHALLINGERROR;
        return { op: 'error', path: op.path, error: zkError(code, op.path) };
      });
    });
  }

  // ---- plumbing --------------------------------------------------------------------------

  /** A request whose body is just the path, and whose reply is decoded by `decode`. */
  private pathRequest<T>(opcode: number, path: string, decode: (reader: JuteReader) => T): Promise<T> {
    validatePath(path);
    return call(this.sink, opcode, (w) => PathRequestCodec.write(w, { path: this.server(path) }), (h, r) => {
      checkReply(h, path);
      return decode(r);
    });
  }

  private server(path: string): string {
    return toServerPath(this.chroot, path);
  }
}
