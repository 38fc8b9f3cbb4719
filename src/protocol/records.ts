import { ProtocolError } from '../errors.js';
import { OpCode } from './constants.js';
import { JuteReader, JuteWriter } from './jute.js';

// Every client-port record of zookeeper.jute, with one codec (write + read) each, so the
// server and the client share one definition of every byte. Field order is wire order.

export interface Codec<T> {
  write(w: JuteWriter, v: T): void;
  read(r: JuteReader): T;
}

export interface Id {
  scheme: string;
  /** Clients may send null here (kazoo does for the `auth` scheme); the codec keeps it. */
  id: string;
}

export interface ACL {
  perms: number;
  id: Id;
}

export interface Stat {
  czxid: bigint;
  mzxid: bigint;
  ctime: bigint;
  mtime: bigint;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
  pzxid: bigint;
}

export const IdCodec: Codec<Id> = {
  write: (w, v) => void w.string(v.scheme).string(v.id),
  read: (r) => ({ scheme: r.stringOrNull() as string, id: r.stringOrNull() as string }),
};

export const AclCodec: Codec<ACL> = {
  write: (w, v) => {
    w.int(v.perms);
    IdCodec.write(w, v.id);
  },
  read: (r) => ({ perms: r.int(), id: IdCodec.read(r) }),
};

export const AclListCodec: Codec<ACL[] | null> = {
  write: (w, v) => void w.vector(v, AclCodec.write),
  read: (r) => r.vector(AclCodec.read),
};

export const StatCodec: Codec<Stat> = {
  write: (w, s) => {
    w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime);
    w.int(s.version).int(s.cversion).int(s.aversion);
    w.long(s.ephemeralOwner).int(s.dataLength).int(s.numChildren).long(s.pzxid);
  },
  read: (r) => ({
    czxid: r.long(),
    mzxid: r.long(),
    ctime: r.long(),
    mtime: r.long(),
    version: r.int(),
    cversion: r.int(),
    aversion: r.int(),
    ephemeralOwner: r.long(),
    dataLength: r.int(),
    numChildren: r.int(),
    pzxid: r.long(),
  }),
};

// ---- session and framing records ------------------------------------------------------

export interface ConnectRequest {
  protocolVersion: number;
  lastZxidSeen: bigint;
  timeOut: number;
  sessionId: bigint;
  passwd: Buffer;
  /** undefined when the client sent no readOnly byte (an "old" client). */
  readOnly: boolean | undefined;
}

export const ConnectRequestCodec: Codec<ConnectRequest> = {
  write: (w, v) => {
    w.int(v.protocolVersion).long(v.lastZxidSeen).int(v.timeOut).long(v.sessionId).buffer(v.passwd);
    if (v.readOnly !== undefined) w.bool(v.readOnly);
  },
  read: (r) => ({
    protocolVersion: r.int(),
    lastZxidSeen: r.long(),
    timeOut: r.int(),
    sessionId: r.long(),
    passwd: r.buffer() ?? Buffer.alloc(0),
    readOnly: r.remaining > 0 ? r.bool() : undefined,
  }),
};

export interface ConnectResponse {
  protocolVersion: number;
  timeOut: number;
  sessionId: bigint;
  passwd: Buffer;
  readOnly: boolean | undefined;
}

export const ConnectResponseCodec: Codec<ConnectResponse> = {
  write: (w, v) => {
    w.int(v.protocolVersion).int(v.timeOut).long(v.sessionId).buffer(v.passwd);
    if (v.readOnly !== undefined) w.bool(v.readOnly);
  },
  read: (r) => ({
    protocolVersion: r.int(),
    timeOut: r.int(),
    sessionId: r.long(),
    passwd: r.buffer() ?? Buffer.alloc(0),
    readOnly: r.remaining > 0 ? r.bool() : undefined,
  }),
};

export interface RequestHeader {
  xid: number;
  type: number;
}

export const RequestHeaderCodec: Codec<RequestHeader> = {
  write: (w, v) => void w.int(v.xid).int(v.type),
  read: (r) => ({ xid: r.int(), type: r.int() }),
};

export interface ReplyHeader {
  xid: number;
  zxid: bigint;
  err: number;
}

export const ReplyHeaderCodec: Codec<ReplyHeader> = {
  write: (w, v) => void w.int(v.xid).long(v.zxid).int(v.err),
  read: (r) => ({ xid: r.int(), zxid: r.long(), err: r.int() }),
};

export interface MultiHeader {
  type: number;
  done: boolean;
  err: number;
}

export const MultiHeaderCodec: Codec<MultiHeader> = {
  write: (w, v) => void w.int(v.type).bool(v.done).int(v.err),
  read: (r) => ({ type: r.int(), done: r.bool(), err: r.int() }),
};

export interface AuthPacket {
  type: number;
  scheme: string;
  auth: Buffer | null;
}

export const AuthPacketCodec: Codec<AuthPacket> = {
  write: (w, v) => void w.int(v.type).string(v.scheme).buffer(v.auth),
  read: (r) => ({ type: r.int(), scheme: r.string(), auth: r.buffer() }),
};

export interface WatcherEvent {
  type: number;
  state: number;
  path: string;
}

export const WatcherEventCodec: Codec<WatcherEvent> = {
  write: (w, v) => void w.int(v.type).int(v.state).string(v.path),
  read: (r) => ({ type: r.int(), state: r.int(), path: r.string() }),
};

export interface SetWatches {
  relativeZxid: bigint;
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
  /** Only in setWatches2 (opcode 105). */
  persistentWatches: string[];
  persistentRecursiveWatches: string[];
}

/** A list of paths that ZooKeeper reads as a Java list: a null list (or path) fails there too. */
function pathList(r: JuteReader, what: string): string[] {
  const list = r.stringVector();
  if (list === null) throw new ProtocolError(`setWatches ${what} is null`);
  return list;
}

export const SetWatchesCodec: Codec<SetWatches> = {
  write: (w, v) => void w.long(v.relativeZxid).stringVector(v.dataWatches).stringVector(v.existWatches).stringVector(v.childWatches),
  read: (r) => ({
    relativeZxid: r.long(),
    dataWatches: pathList(r, 'dataWatches'),
    existWatches: pathList(r, 'existWatches'),
    childWatches: pathList(r, 'childWatches'),
    persistentWatches: [],
    persistentRecursiveWatches: [],
  }),
};

export const SetWatches2Codec: Codec<SetWatches> = {
  write: (w, v) => {
    SetWatchesCodec.write(w, v);
    w.stringVector(v.persistentWatches).stringVector(v.persistentRecursiveWatches);
  },
  read: (r) => {
    const base = SetWatchesCodec.read(r);
    base.persistentWatches = pathList(r, 'persistentWatches');
    base.persistentRecursiveWatches = pathList(r, 'persistentRecursiveWatches');
    return base;
  },
};

export interface ErrorResponse {
  err: number;
}

export const ErrorResponseCodec: Codec<ErrorResponse> = {
  write: (w, v) => void w.int(v.err),
  read: (r) => ({ err: r.int() }),
};

// ---- request records --------------------------------------------------------------------

export interface CreateRequest {
  path: string;
  data: Buffer | null;
  acl: ACL[] | null;
  flags: number;
  /** Present only for createTTL (opcode 21). */
  ttl?: bigint;
}

export const CreateRequestCodec: Codec<CreateRequest> = {
  write: (w, v) => {
    w.string(v.path).buffer(v.data);
    AclListCodec.write(w, v.acl);
    w.int(v.flags);
  },
  read: (r) => ({ path: r.string(), data: r.buffer(), acl: AclListCodec.read(r), flags: r.int() }),
};

export const CreateTTLRequestCodec: Codec<CreateRequest> = {
  write: (w, v) => {
    CreateRequestCodec.write(w, v);
    w.long(v.ttl ?? -1n);
  },
  read: (r) => {
    const base = CreateRequestCodec.read(r);
    base.ttl = r.long();
    return base;
  },
};

export interface PathVersionRequest {
  path: string;
  version: number;
}

/** DeleteRequest and CheckVersionRequest share this layout. */
export const PathVersionRequestCodec: Codec<PathVersionRequest> = {
  write: (w, v) => void w.string(v.path).int(v.version),
  read: (r) => ({ path: r.string(), version: r.int() }),
};

export interface PathWatchRequest {
  path: string;
  watch: boolean;
}

/** exists, getData, getChildren and getChildren2 requests share this layout. */
export const PathWatchRequestCodec: Codec<PathWatchRequest> = {
  write: (w, v) => void w.string(v.path).bool(v.watch),
  read: (r) => ({ path: r.string(), watch: r.bool() }),
};

export interface PathRequest {
  path: string;
}

/** getACL, sync, getAllChildrenNumber, getEphemerals and deleteContainer requests. */
export const PathRequestCodec: Codec<PathRequest> = {
  write: (w, v) => void w.string(v.path),
  read: (r) => ({ path: r.string() }),
};

export interface SetDataRequest {
  path: string;
  data: Buffer | null;
  version: number;
}

export const SetDataRequestCodec: Codec<SetDataRequest> = {
  write: (w, v) => void w.string(v.path).buffer(v.data).int(v.version),
  read: (r) => ({ path: r.string(), data: r.buffer(), version: r.int() }),
};

export interface SetACLRequest {
  path: string;
  acl: ACL[] | null;
  version: number;
}

export const SetACLRequestCodec: Codec<SetACLRequest> = {
  write: (w, v) => {
    w.string(v.path);
    AclListCodec.write(w, v.acl);
    w.int(v.version);
  },
  read: (r) => ({ path: r.string(), acl: AclListCodec.read(r), version: r.int() }),
};

export interface PathTypeRequest {
  path: string;
  type: number;
}

/** checkWatches and removeWatches (type = WatcherType), addWatch (type = mode). */
export const PathTypeRequestCodec: Codec<PathTypeRequest> = {
  write: (w, v) => void w.string(v.path).int(v.type),
  read: (r) => ({ path: r.string(), type: r.int() }),
};

export interface ReconfigRequest {
  joiningServers: string | null;
  leavingServers: string | null;
  newMembers: string | null;
  curConfigId: bigint;
}

export const ReconfigRequestCodec: Codec<ReconfigRequest> = {
  write: (w, v) => void w.string(v.joiningServers).string(v.leavingServers).string(v.newMembers).long(v.curConfigId),
  read: (r) => ({
    joiningServers: r.stringOrNull(),
    leavingServers: r.stringOrNull(),
    newMembers: r.stringOrNull(),
    curConfigId: r.long(),
  }),
};

export interface EmptyRecord {}
export const EmptyCodec: Codec<EmptyRecord> = {
  write: () => undefined,
  read: () => ({}),
};

// ---- response records -----------------------------------------------------------------

export interface PathResponse {
  path: string;
}
/** CreateResponse and SyncResponse. */
export const PathResponseCodec: Codec<PathResponse> = PathRequestCodec;

export interface PathStatResponse {
  path: string;
  stat: Stat;
}
/** Create2Response. */
export const PathStatResponseCodec: Codec<PathStatResponse> = {
  write: (w, v) => {
    w.string(v.path);
    StatCodec.write(w, v.stat);
  },
  read: (r) => ({ path: r.string(), stat: StatCodec.read(r) }),
};

export interface StatResponse {
  stat: Stat;
}
/** ExistsResponse, SetDataResponse, SetACLResponse. */
export const StatResponseCodec: Codec<StatResponse> = {
  write: (w, v) => StatCodec.write(w, v.stat),
  read: (r) => ({ stat: StatCodec.read(r) }),
};

export interface GetDataResponse {
  data: Buffer | null;
  stat: Stat;
}
export const GetDataResponseCodec: Codec<GetDataResponse> = {
  write: (w, v) => {
    w.buffer(v.data);
    StatCodec.write(w, v.stat);
  },
  read: (r) => ({ data: r.buffer(), stat: StatCodec.read(r) }),
};

export interface GetACLResponse {
  acl: ACL[];
  stat: Stat;
}
export const GetACLResponseCodec: Codec<GetACLResponse> = {
  write: (w, v) => {
    AclListCodec.write(w, v.acl);
    StatCodec.write(w, v.stat);
  },
  read: (r) => ({ acl: AclListCodec.read(r) ?? [], stat: StatCodec.read(r) }),
};

export interface ChildrenResponse {
  children: string[];
}
/** GetChildrenResponse, GetEphemeralsResponse (same layout: one vector<ustring>). */
export const ChildrenResponseCodec: Codec<ChildrenResponse> = {
  write: (w, v) => void w.stringVector(v.children),
  read: (r) => ({ children: r.stringVector() ?? [] }),
};

export interface Children2Response {
  children: string[];
  stat: Stat;
}
export const Children2ResponseCodec: Codec<Children2Response> = {
  write: (w, v) => {
    w.stringVector(v.children);
    StatCodec.write(w, v.stat);
  },
  read: (r) => ({ children: r.stringVector() ?? [], stat: StatCodec.read(r) }),
};

export interface CountResponse {
  totalNumber: number;
}
export const CountResponseCodec: Codec<CountResponse> = {
  write: (w, v) => void w.int(v.totalNumber),
  read: (r) => ({ totalNumber: r.int() }),
};

export interface ClientInfo {
  authScheme: string;
  user: string;
}
export interface WhoAmIResponse {
  clientInfo: ClientInfo[];
}
export const WhoAmIResponseCodec: Codec<WhoAmIResponse> = {
  write: (w, v) => void w.vector(v.clientInfo, (ww, c) => ww.string(c.authScheme).string(c.user)),
  read: (r) => ({ clientInfo: r.vector((rr) => ({ authScheme: rr.string(), user: rr.string() })) ?? [] }),
};

// ---- multi ------------------------------------------------------------------------------

/** One op of a multi or multiRead request. */
export type MultiOp =
  | { type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer | typeof OpCode.createTTL; request: CreateRequest }
  | { type: typeof OpCode.delete | typeof OpCode.check; request: PathVersionRequest }
  | { type: typeof OpCode.setData; request: SetDataRequest }
  | { type: typeof OpCode.getData | typeof OpCode.getChildren; request: PathWatchRequest };

const multiWriteOps = new Set<number>([
  OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
  OpCode.delete, OpCode.check, OpCode.setData,
]);
const multiReadOps = new Set<number>([OpCode.getData, OpCode.getChildren]);

function multiOpCodec(type: number): Codec<any> {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return CreateRequestCodec;
    case OpCode.createTTL:
      return CreateTTLRequestCodec;
    case OpCode.delete:
    case OpCode.check:
      return PathVersionRequestCodec;
    case OpCode.setData:
      return SetDataRequestCodec;
    default:
      return PathWatchRequestCodec;
  }
}

/** Decodes the ops of a multi (14) or multiRead (22) request; mixing reads and writes is refused. */
export function readMultiRequest(r: JuteReader, kind: 'write' | 'read'): MultiOp[] {
  const allowed = kind === 'write' ? multiWriteOps : multiReadOps;
  const ops: MultiOp[] = [];
  for (;;) {
    const h = MultiHeaderCodec.read(r);
    if (h.done) return ops;
    if (!allowed.has(h.type)) {
      throw new ProtocolError(`op type ${h.type} is not allowed in a multi${kind === 'read' ? 'Read' : ''} request`);
    }
    ops.push({ type: h.type, request: multiOpCodec(h.type).read(r) } as MultiOp);
  }
}

export function writeMultiRequest(w: JuteWriter, ops: readonly MultiOp[]): void {
  for (const op of ops) {
    MultiHeaderCodec.write(w, { type: op.type, done: false, err: -1 });
    multiOpCodec(op.type).write(w, op.request);
  }
  MultiHeaderCodec.write(w, { type: -1, done: true, err: -1 });
}

/** One result of a multi or multiRead reply. */
export type MultiResult =
  | { type: typeof OpCode.create; path: string }
  | { type: typeof OpCode.create2; path: string; stat: Stat }
  | { type: typeof OpCode.delete | typeof OpCode.check }
  | { type: typeof OpCode.setData; stat: Stat }
  | { type: typeof OpCode.getData; data: Buffer | null; stat: Stat }
  | { type: typeof OpCode.getChildren; children: string[] }
  | { type: typeof OpCode.error; err: number };

export function writeMultiResponse(w: JuteWriter, results: readonly MultiResult[]): void {
  for (const res of results) {
    const err = res.type === OpCode.error ? res.err : 0;
    MultiHeaderCodec.write(w, { type: res.type, done: false, err });
    switch (res.type) {
      case OpCode.create:
        w.string(res.path);
        break;
      case OpCode.create2:
        PathStatResponseCodec.write(w, res);
        break;
      case OpCode.setData:
        StatCodec.write(w, res.stat);
        break;
      case OpCode.getData:
        GetDataResponseCodec.write(w, res);
        break;
      case OpCode.getChildren:
        w.stringVector(res.children);
        break;
      case OpCode.error:
        w.int(res.err);
        break;
      default:
        break;
    }
  }
  MultiHeaderCodec.write(w, { type: -1, done: true, err: -1 });
}

export function readMultiResponse(r: JuteReader): MultiResult[] {
  const results: MultiResult[] = [];
  for (;;) {
    const h = MultiHeaderCodec.read(r);
    if (h.done) return results;
    switch (h.type) {
      case OpCode.create:
        results.push({ type: OpCode.create, path: r.string() });
        break;
      case OpCode.create2:
        results.push({ type: OpCode.create2, ...PathStatResponseCodec.read(r) });
        break;
      case OpCode.delete:
      case OpCode.check:
        results.push({ type: h.type });
        break;
      case OpCode.setData:
        results.push({ type: OpCode.setData, stat: StatCodec.read(r) });
        break;
      case OpCode.getData:
        results.push({ type: OpCode.getData, ...GetDataResponseCodec.read(r) });
        break;
      case OpCode.getChildren:
        results.push({ type: OpCode.getChildren, children: r.stringVector() ?? [] });
        break;
      case OpCode.error:
        results.push({ type: OpCode.error, err: r.int() });
        break;
      default:
        throw new ProtocolError(`unknown multi result type ${h.type}`);
    }
  }
}

/** The request record codec for each opcode that carries one on the client port. */
export const requestCodecs: ReadonlyMap<number, Codec<any>> = new Map<number, Codec<any>>([
  [OpCode.create, CreateRequestCodec],
  [OpCode.create2, CreateRequestCodec],
  [OpCode.createContainer, CreateRequestCodec],
  [OpCode.createTTL, CreateTTLRequestCodec],
  [OpCode.delete, PathVersionRequestCodec],
  [OpCode.deleteContainer, PathRequestCodec],
  [OpCode.exists, PathWatchRequestCodec],
  [OpCode.getData, PathWatchRequestCodec],
  [OpCode.setData, SetDataRequestCodec],
  [OpCode.getACL, PathRequestCodec],
  [OpCode.setACL, SetACLRequestCodec],
  [OpCode.getChildren, PathWatchRequestCodec],
  [OpCode.getChildren2, PathWatchRequestCodec],
  [OpCode.sync, PathRequestCodec],
  [OpCode.check, PathVersionRequestCodec],
  [OpCode.reconfig, ReconfigRequestCodec],
  [OpCode.checkWatches, PathTypeRequestCodec],
  [OpCode.removeWatches, PathTypeRequestCodec],
  [OpCode.addWatch, PathTypeRequestCodec],
  [OpCode.getEphemerals, PathRequestCodec],
  [OpCode.getAllChildrenNumber, PathRequestCodec],
  [OpCode.setWatches, SetWatchesCodec],
  [OpCode.setWatches2, SetWatches2Codec],
  [OpCode.auth, AuthPacketCodec],
  [OpCode.ping, EmptyCodec],
  [OpCode.closeSession, EmptyCodec],
  [OpCode.whoAmI, EmptyCodec],
]);
