import { digestId, aclPermits } from '../data/acl.js';
import type { DataTree } from '../data/data-tree.js';
import type { ApplyResult } from '../data/tree-ops.js';
import type { ZNode } from '../data/znode.js';
import type { Txn, TxnOp } from '../data/txn.js';
import type { WatchManager } from '../data/watch-manager.js';
import { ProtocolError, ZkError } from '../errors.js';
import { hex } from '../logger.js';
import { ErrorCode, EventType, KeeperState, OpCode, Perms, Xid, errorName, opName } from '../protocol/constants.js';
import type { JuteReader, JuteWriter } from '../protocol/jute.js';
import {
  AuthPacketCodec,
  Children2ResponseCodec,
  ChildrenResponseCodec,
  CountResponseCodec,
  CreateRequestCodec,
  CreateTTLRequestCodec,
  GetACLResponseCodec,
  GetDataResponseCodec,
  PathRequestCodec,
  PathStatResponseCodec,
  PathTypeRequestCodec,
  PathVersionRequestCodec,
  PathWatchRequestCodec,
  ReconfigRequestCodec,
  SetACLRequestCodec,
  SetDataRequestCodec,
  SetWatches2Codec,
  SetWatchesCodec,
  StatCodec,
  WhoAmIResponseCodec,
  readMultiRequest,
  writeMultiResponse,
  type ACL,
  type Id,
  type MultiResult,
  type RequestHeader,
  type SetWatches,
} from '../protocol/records.js';
import { InvalidRequest, validateRequest } from '../protocol/validate.js';
import type { Committer, WriteWaiter } from './committer.js';
import { replyFrame, type ServerConnection } from './connection.js';
import type { Completion, Job, Outcome } from './request-queue.js';

/** What request handling needs from the server around it. */
export interface RequestContext {
  readonly tree: DataTree;
  readonly watches: WatchManager;
  readonly committer: Committer;
  readonly superDigest: string | null;
  /** Called for every packet of an established session (pings included). */
  touchSession(conn: ServerConnection): void;
  /** True while the session may still issue requests. */
  sessionIsLive(sessionId: bigint): boolean;
  /** The session's client asked to close it: it is no longer revalidated (as ZooKeeper marks it closing). */
  sessionCloseRequested(sessionId: bigint): void;
  /** Waits until this server has applied every write committed before now. */
  sync(): Promise<void>;
}

type Handler = (ctx: RequestContext, conn: ServerConnection, header: RequestHeader, body: JuteReader) => Job;

const read = (start: () => Outcome): Job => ({ write: false, start });

function reply(ctx: RequestContext, header: RequestHeader, err: number, body?: (w: JuteWriter) => void): Outcome {
  return { frame: replyFrame(header.xid, ctx.tree.lastZxid, err, body) };
}

/**
 * Decodes a request record and checks it against every rule (protocol/validate.ts). A record
 * that does not decode closes the connection (ProtocolError); one the rules refuse throws
 * InvalidRequest, which handleRequest answers with its code, proposing nothing.
 */
function decode<T>(ctx: RequestContext, conn: ServerConnection, codec: { read(r: JuteReader): T }, body: JuteReader, header: RequestHeader): T {
  const record = decodeOnly(() => codec.read(body), header);
  validate(ctx, conn, header, record);
  return record;
}

function decodeOnly<T>(read: () => T, header: RequestHeader): T {
  try {
    return read();
  } catch (err) {
    throw new ProtocolError(`cannot decode ${opName(header.type)} request (xid ${header.xid}): ${(err as Error).message}`, { cause: err });
  }
}

function validate(ctx: RequestContext, conn: ServerConnection, header: RequestHeader, record: unknown): void {
  try {
    validateRequest(header.type, record, { authIds: conn.authIds, extendedTypesEnabled: ctx.tree.extendedTypesEnabled });
  } catch (err) {
    if (err instanceof ProtocolError) {
      throw new ProtocolError(`invalid ${opName(header.type)} request (xid ${header.xid}, session ${hex(conn.sessionId)}): ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** The answer to a request the rules refused: its code (a multi: per-op results), nothing proposed. */
function refused(ctx: RequestContext, conn: ServerConnection, header: RequestHeader, err: InvalidRequest): Job {
  conn.log.info(
    { session: hex(conn.sessionId), xid: header.xid, op: opName(header.type), code: errorName(err.code), field: err.field, problem: err.problem },
    'request refused',
  );
  if (header.type !== OpCode.multi || err.opIndex < 0) return read(() => reply(ctx, header, err.code));
  // As ZooKeeper answers a multi whose op failed: header OK, the ops before it OK, the op its
  // code, the ops after it RUNTIMEINCONSISTENCY.
  const results: MultiResult[] = [];
  for (let i = 0; i < err.opCount; i++) {
    results.push({ type: OpCode.error, err: i < err.opIndex ? ErrorCode.OK : i === err.opIndex ? err.code : ErrorCode.RUNTIMEINCONSISTENCY });
  }
  return read(() => reply(ctx, header, 0, (w) => writeMultiResponse(w, results)));
}

function canRead(node: ZNode, conn: ServerConnection): boolean {
  return aclPermits(node.acl, Perms.READ, conn.authIds);
}

// ---- reads ------------------------------------------------------------------------------

const exists: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathWatchRequestCodec, body, header);
  return read(() => {
    if (req.watch) ctx.watches.addDataWatch(req.path, conn);
    const node = ctx.tree.getNode(req.path);
    if (node === undefined) return reply(ctx, header, ErrorCode.NONODE);
    const stat = ctx.tree.statOf(node);
    return reply(ctx, header, 0, (w) => StatCodec.write(w, stat));
  });
};

const getData: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathWatchRequestCodec, body, header);
  return read(() => {
    const node = ctx.tree.getNode(req.path);
    if (node === undefined) return reply(ctx, header, ErrorCode.NONODE);
    if (!canRead(node, conn)) return reply(ctx, header, ErrorCode.NOAUTH);
    if (req.watch) ctx.watches.addDataWatch(req.path, conn);
    const stat = ctx.tree.statOf(node);
    // GetDataResponse, copied from the tree's data arena into the reply.
    return reply(ctx, header, 0, (w) => StatCodec.write(w.buffer(node.dataView()), stat));
  });
};

function childrenHandler(withStat: boolean): Handler {
  return (ctx, conn, header, body) => {
    const req = decode(ctx, conn, PathWatchRequestCodec, body, header);
    return read(() => {
      const node = ctx.tree.getNode(req.path);
      if (node === undefined) return reply(ctx, header, ErrorCode.NONODE);
      if (!canRead(node, conn)) return reply(ctx, header, ErrorCode.NOAUTH);
      if (req.watch) ctx.watches.addChildWatch(req.path, conn);
      const children = node.childNames();
      if (!withStat) return reply(ctx, header, 0, (w) => ChildrenResponseCodec.write(w, { children }));
      const stat = ctx.tree.statOf(node);
      return reply(ctx, header, 0, (w) => Children2ResponseCodec.write(w, { children, stat }));
    });
  };
}

/** Digest ids are shown as user:x to a caller without ADMIN (ZOOKEEPER-1392). */
function maskDigests(acl: readonly ACL[]): ACL[] {
  return acl.map((a) => (a.id.scheme === 'digest' ? { perms: a.perms, id: { scheme: 'digest', id: a.id.id.split(':')[0] + ':x' } } : a));
}

const getAcl: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathRequestCodec, body, header);
  return read(() => {
    const node = ctx.tree.getNode(req.path);
    if (node === undefined) return reply(ctx, header, ErrorCode.NONODE);
    if (!aclPermits(node.acl, Perms.READ | Perms.ADMIN, conn.authIds)) return reply(ctx, header, ErrorCode.NOAUTH);
    const admin = aclPermits(node.acl, Perms.ADMIN, conn.authIds);
    const acl = admin ? [...node.acl] : maskDigests(node.acl);
    const stat = ctx.tree.statOf(node);
    return reply(ctx, header, 0, (w) => GetACLResponseCodec.write(w, { acl, stat }));
  });
};

const getAllChildrenNumber: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathRequestCodec, body, header);
  return read(() => {
    const node = ctx.tree.getNode(req.path);
    if (node === undefined) return reply(ctx, header, ErrorCode.NONODE);
    if (!canRead(node, conn)) return reply(ctx, header, ErrorCode.NOAUTH);
    const totalNumber = ctx.tree.countDescendants(req.path);
    return reply(ctx, header, 0, (w) => CountResponseCodec.write(w, { totalNumber }));
  });
};

const getEphemerals: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathRequestCodec, body, header);
  return read(() => {
    const children = ctx.tree.ephemeralsOf(conn.sessionId, req.path);
    return reply(ctx, header, 0, (w) => ChildrenResponseCodec.write(w, { children }));
  });
};

const whoAmI: Handler = (ctx, conn, header) =>
  read(() => {
    const clientInfo = conn.authIds.map((id) => ({
      authScheme: id.scheme,
      user: id.scheme === 'digest' ? id.id.split(':')[0]! : id.id,
    }));
    return reply(ctx, header, 0, (w) => WhoAmIResponseCodec.write(w, { clientInfo }));
  });

const sync: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathRequestCodec, body, header);
  return {
    write: true,
    start: (done) => {
      ctx.sync().then(
        () => done.finish(reply(ctx, header, 0, (w) => w.string(req.path))),
        (err) => done.finish(lostWrite(err)),
      );
      return null;
    },
  };
};

const checkWatches: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathTypeRequestCodec, body, header);
  return read(() => reply(ctx, header, ctx.watches.hasWatch(req.path, req.type, conn) ? 0 : ErrorCode.NOWATCHER));
};

const removeWatches: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathTypeRequestCodec, body, header);
  return read(() => reply(ctx, header, ctx.watches.removeWatch(req.path, req.type, conn) ? 0 : ErrorCode.NOWATCHER));
};

const addWatch: Handler = (ctx, conn, header, body) => {
  const req = decode(ctx, conn, PathTypeRequestCodec, body, header);
  return read(() => {
    ctx.watches.addPersistentWatch(req.path, conn, req.type === 1);
    return reply(ctx, header, 0, (w) => w.int(0));
  });
};

/**
 * Re-registers a reconnecting client's watches; what changed since relativeZxid fires at
 * once (before the reply), as ZooKeeper does.
 */
function setWatchesHandler(v2: boolean): Handler {
  return (ctx, conn, header, body) => {
    const req = decode(ctx, conn, v2 ? SetWatches2Codec : SetWatchesCodec, body, header);
    return read(() => {
      registerWatches(ctx, conn, req);
      return reply(ctx, header, 0);
    });
  };
}

function registerWatches(ctx: RequestContext, conn: ServerConnection, req: SetWatches): void {
  const fire = (type: number, path: string) => conn.notify({ type, state: KeeperState.SyncConnected, path });
  for (const path of req.dataWatches) {
    const node = ctx.tree.getNode(path);
    if (node === undefined) fire(EventType.NodeDeleted, path);
    else if (node.mzxid > req.relativeZxid) fire(EventType.NodeDataChanged, path);
    else ctx.watches.addDataWatch(path, conn);
  }
  for (const path of req.existWatches) {
    if (ctx.tree.getNode(path) !== undefined) fire(EventType.NodeCreated, path);
    else ctx.watches.addDataWatch(path, conn);
  }
  for (const path of req.childWatches) {
    const node = ctx.tree.getNode(path);
    if (node === undefined) fire(EventType.NodeDeleted, path);
    else if (node.pzxid > req.relativeZxid) fire(EventType.NodeChildrenChanged, path);
    else ctx.watches.addChildWatch(path, conn);
  }
  for (const path of req.persistentWatches) ctx.watches.addPersistentWatch(path, conn, false);
  for (const path of req.persistentRecursiveWatches) ctx.watches.addPersistentWatch(path, conn, true);
}

const multiRead: Handler = (ctx, conn, header, body) => {
  const ops = decodeOnly(() => readMultiRequest(body, 'read'), header);
  return read(() => {
    const results: MultiResult[] = ops.map((op) => {
      const node = ctx.tree.getNode(op.request.path);
      if (node === undefined) return { type: OpCode.error, err: ErrorCode.NONODE };
      if (!canRead(node, conn)) return { type: OpCode.error, err: ErrorCode.NOAUTH };
      if (op.type === OpCode.getData) {
        if ((op.request as { watch: boolean }).watch) ctx.watches.addDataWatch(op.request.path, conn);
        return { type: OpCode.getData, data: node.data, stat: ctx.tree.statOf(node) };
      }
      if ((op.request as { watch: boolean }).watch) ctx.watches.addChildWatch(op.request.path, conn);
      return { type: OpCode.getChildren, children: node.childNames() };
    });
    return reply(ctx, header, 0, (w) => writeMultiResponse(w, results));
  });
};

const ping: Handler = (ctx, _conn, _header) => read(() => ({ frame: replyFrame(Xid.ping, ctx.tree.lastZxid, 0) }));

const auth = (ctx: RequestContext, conn: ServerConnection, header: RequestHeader, body: JuteReader): Job => {
  const req = decode(ctx, conn, AuthPacketCodec, body, header);
  return read(() => {
    const fail = (): Outcome => ({ frame: replyFrame(Xid.auth, 0n, ErrorCode.AUTHFAILED), close: `auth failed for scheme ${req.scheme}` });
    if (req.scheme === 'digest') {
      const text = req.auth?.toString('utf8') ?? '';
      if (!text.includes(':')) return fail();
      const id = digestId(text);
      if (!conn.authIds.some((a) => a.scheme === 'digest' && a.id === id)) conn.addAuthId({ scheme: 'digest', id });
      if (ctx.superDigest !== null && id === ctx.superDigest && !conn.authIds.some((a) => a.scheme === 'super')) {
        conn.addAuthId({ scheme: 'super', id: '' });
      }
    } else if (req.scheme === 'ip') {
      // The connection already holds its ip id; ZooKeeper's ip provider adds nothing more.
    } else if (req.scheme === 'x509') {
      // The certificate proved the id at the handshake; without one there is nothing to prove.
      if (!conn.authIds.some((a) => a.scheme === 'x509')) return fail();
    } else {
      return fail();
    }
    return { frame: replyFrame(Xid.auth, 0n, 0) };
  });
};

// ---- writes ------------------------------------------------------------------------------

// One writer per reply type, not a closure per reply: a write's reply is built once per write.
const writeCreatedPath = (w: JuteWriter, response: any): void => void w.string(response.path);
const writePathStat = (w: JuteWriter, response: any): void => PathStatResponseCodec.write(w, response);
const writeStat = (w: JuteWriter, response: any): void => StatCodec.write(w, response.stat);

function writeReplyBody(type: number): ((w: JuteWriter, response: any) => void) | undefined {
  switch (type) {
    case OpCode.create:
      return writeCreatedPath;
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return writePathStat;
    case OpCode.setData:
    case OpCode.setACL:
      return writeStat;
    case OpCode.multi:
      return writeMultiResponse;
    default:
      return undefined;
  }
}

function decodeWrite(ctx: RequestContext, conn: ServerConnection, header: RequestHeader, body: JuteReader): TxnOp {
  switch (header.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return { type: header.type, request: decode(ctx, conn, CreateRequestCodec, body, header) };
    case OpCode.createTTL:
      return { type: header.type, request: decode(ctx, conn, CreateTTLRequestCodec, body, header) };
    case OpCode.delete:
      return { type: header.type, request: decode(ctx, conn, PathVersionRequestCodec, body, header) };
    case OpCode.deleteContainer:
      return { type: header.type, request: decode(ctx, conn, PathRequestCodec, body, header) };
    case OpCode.setData:
      return { type: header.type, request: decode(ctx, conn, SetDataRequestCodec, body, header) };
    case OpCode.setACL:
      return { type: header.type, request: decode(ctx, conn, SetACLRequestCodec, body, header) };
    case OpCode.multi: {
      const ops = decodeOnly(() => readMultiRequest(body, 'write'), header);
      validate(ctx, conn, header, ops);
      return { type: OpCode.multi, ops };
    }
    default:
      throw new ProtocolError(`opcode ${header.type} is not a write`);
  }
}

/**
 * A write: handed to the committer when it may start, its reply built when it is applied.
 * The job is its own waiter, so a write costs this object and no closure or promise.
 */
class WriteJob implements Job, WriteWaiter {
  readonly write = true;
  private done: Completion | null = null;

  constructor(
    private readonly ctx: RequestContext,
    private readonly conn: ServerConnection,
    private readonly xid: number,
    private readonly type: number,
    private readonly op: TxnOp,
    // The ids as they are now: the connection replaces its list on auth, never changes it.
    private readonly authIds: readonly Id[],
  ) {}

  start(done: Completion): Outcome | null {
    const conn = this.conn;
    if (!this.ctx.sessionIsLive(conn.sessionId)) return { frame: replyFrame(this.xid, this.ctx.tree.lastZxid, ErrorCode.SESSIONEXPIRED) };
    this.done = done;
    this.ctx.committer.submit({ sessionId: conn.sessionId, cxid: this.xid, authIds: this.authIds, op: this.op }, this);
    return null;
  }

  committed(txn: Txn, result: ApplyResult): void {
    let outcome: Outcome;
    try {
      outcome = { frame: replyFrame(this.xid, txn.zxid, result.err, writeReplyBody(this.type), result.response) };
    } catch (err) {
      // Called from the apply loop: a reply that cannot be built closes this connection only.
      outcome = { frame: null, close: `internal error: ${(err as Error).message}` };
    }
    this.done!.finish(outcome);
  }

  lost(err: unknown): void {
    const moved = err instanceof ZkError && err.code === ErrorCode.SESSIONMOVED;
    this.done!.finish(moved ? { frame: replyFrame(this.xid, this.ctx.tree.lastZxid, ErrorCode.SESSIONMOVED), close: 'session moved to another server' } : lostWrite(err));
  }
}

const write: Handler = (ctx, conn, header, body) => new WriteJob(ctx, conn, header.xid, header.type, decodeWrite(ctx, conn, header, body), conn.authIds);

const closeSession: Handler = (ctx, conn, header) => ({
  write: true,
  start: (done) => {
    conn.closeRequested = true;
    ctx.sessionCloseRequested(conn.sessionId);
    ctx.committer.submit(
      { sessionId: conn.sessionId, cxid: header.xid, authIds: [], op: { type: OpCode.closeSession } },
      {
        committed: (txn) => done.finish({ frame: replyFrame(header.xid, txn.zxid, 0), close: 'session closed by client' }),
        lost: (err) => done.finish(lostWrite(err)),
      },
    );
    return null;
  },
});

/** A write whose fate we cannot report (the leader went away): the client sees ConnectionLoss. */
function lostWrite(err: unknown): Outcome {
  return { frame: null, close: `write not completed: ${(err as Error).message}` };
}

const reconfig: Handler = (ctx, conn, header, body) => {
  // Read whole first, as ZooKeeper does: a record that does not decode is MARSHALLINGERROR.
  decode(ctx, conn, ReconfigRequestCodec, body, header);
  return read(() => reply(ctx, header, ErrorCode.RECONFIGDISABLED));
};

const handlers = new Map<number, Handler>([
  [OpCode.exists, exists],
  [OpCode.getData, getData],
  [OpCode.getChildren, childrenHandler(false)],
  [OpCode.getChildren2, childrenHandler(true)],
  [OpCode.getACL, getAcl],
  [OpCode.getAllChildrenNumber, getAllChildrenNumber],
  [OpCode.getEphemerals, getEphemerals],
  [OpCode.whoAmI, whoAmI],
  [OpCode.sync, sync],
  [OpCode.checkWatches, checkWatches],
  [OpCode.removeWatches, removeWatches],
  [OpCode.addWatch, addWatch],
  [OpCode.setWatches, setWatchesHandler(false)],
  [OpCode.setWatches2, setWatchesHandler(true)],
  [OpCode.multiRead, multiRead],
  [OpCode.ping, ping],
  [OpCode.auth, auth],
  [OpCode.create, write],
  [OpCode.create2, write],
  [OpCode.createContainer, write],
  [OpCode.createTTL, write],
  [OpCode.delete, write],
  [OpCode.deleteContainer, write],
  [OpCode.setData, write],
  [OpCode.setACL, write],
  [OpCode.multi, write],
  [OpCode.closeSession, closeSession],
  [OpCode.reconfig, reconfig],
]);

/** Turns one decoded request header and body into a job for the connection's queue. */
export function handleRequest(ctx: RequestContext, conn: ServerConnection, header: RequestHeader, body: JuteReader): Job {
  ctx.touchSession(conn);
  conn.stats.lastOp = opName(header.type);
  const handler = handlers.get(header.type);
  if (handler === undefined) {
    // check alone, sasl and unknown opcodes: UNIMPLEMENTED, then the connection closes.
    // ZooKeeper answers these with zxid -1.
    return read(() => ({
      frame: replyFrame(header.xid, -1n, ErrorCode.UNIMPLEMENTED),
      close: `unimplemented opcode ${header.type}`,
    }));
  }
  try {
    return handler(ctx, conn, header, body);
  } catch (err) {
    if (err instanceof InvalidRequest) return refused(ctx, conn, header, err);
    throw err;
  }
}

