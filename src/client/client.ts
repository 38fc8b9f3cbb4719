import { EventEmitter } from 'node:events';
import { AddWatchMode, CreateMode, ErrorCode, EventType, OpCode, WatcherType, eventTypeName } from '../protocol/constants.js';
import type { JuteReader, JuteWriter } from '../protocol/jute.js';
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
  PathTypeRequestCodec,
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
  type ReplyHeader,
  type Stat,
  type WatcherEvent,
} from '../protocol/records.js';
import { parseConnectString, shuffled, type HostPort } from './connect-string.js';
import { Connection, hex } from './connection.js';
import type { WatchPaths } from './set-watches.js';
import { ZooKeeperError, zkError } from './errors.js';
import { multiResults, toBuffer, toMultiOp, Transaction } from './multi.js';
import { toClientPath, toServerPath, validatePath } from './paths.js';
import type {
  AclResult,
  AddWatchModeName,
  ChildrenResult,
  ClientLogger,
  ClientOptions,
  ClientStateName,
  CreateModeName,
  CreateOptions,
  CreateResult,
  DataInput,
  DataResult,
  EventTypeName,
  Op,
  OpResult,
  ReadOp,
  ReadOpResult,
  StateChange,
  VersionOption,
  WatchedEvent,
  WatcherTypeName,
  WatchListener,
  WatchOption,
  WatchOptions,
} from './types.js';
import { defaultWatcher, localEvent, WatchRegistry, type WatchKind } from './watch-registry.js';

/** World-readable and writable by anyone: ZooDefs.Ids.OPEN_ACL_UNSAFE. */
export const OPEN_ACL_UNSAFE: readonly ACL[] = Object.freeze([{ perms: 31, id: { scheme: 'world', id: 'anyone' } }]);
/** Everything for the authenticated creator: ZooDefs.Ids.CREATOR_ALL_ACL. */
export const CREATOR_ALL_ACL: readonly ACL[] = Object.freeze([{ perms: 31, id: { scheme: 'auth', id: '' } }]);
/** Readable by anyone: ZooDefs.Ids.READ_ACL_UNSAFE. */
export const READ_ACL_UNSAFE: readonly ACL[] = Object.freeze([{ perms: 1, id: { scheme: 'world', id: 'anyone' } }]);

const noopLogger: ClientLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined };

export interface ClientEvents {
  state: [StateChange];
  event: [WatchedEvent];
}

/**
 * A ZooKeeper client: one session, kept alive across connections to the servers of the
 * connect string. Every operation returns a promise; failures are ZooKeeperError (a ZkError)
 * with the ZooKeeper code in `err.code` and its name in `err.codeName`.
 */
export class ZooKeeperClient extends EventEmitter<ClientEvents> {
  readonly hosts: readonly HostPort[];
  readonly chroot: string;
  private readonly connection: Connection;
  private readonly watches = new WatchRegistry();
  private readonly logger: ClientLogger;
  private readonly connectTimeout: number;
  private readonly initialAuth: { scheme: string; auth: Buffer }[];
  private connectPromise: Promise<void> | null = null;
  private lastState: StateChange;

  constructor(connectString: string, options: ClientOptions = {}) {
    super();
    const parsed = parseConnectString(connectString);
    this.hosts = options.shuffleHosts === false ? parsed.hosts : shuffled(parsed.hosts);
    this.chroot = parsed.chroot;
    this.logger = options.logger ?? noopLogger;
    const sessionTimeout = options.sessionTimeout ?? 30_000;
    this.connectTimeout = options.connectTimeout ?? sessionTimeout * 2;
    this.initialAuth = (options.authInfo ?? []).map((a) => ({ scheme: a.scheme, auth: toBuffer(a.auth) ?? Buffer.alloc(0) }));
    if (options.watcher !== undefined) this.on('event', options.watcher);
    this.lastState = { state: 'CLOSED', at: Date.now(), sessionId: 0n };
    this.connection = new Connection(
      {
        hosts: [...this.hosts],
        sessionTimeout,
        sessionId: options.sessionId ?? 0n,
        sessionPassword: options.sessionPassword ?? Buffer.alloc(16),
        canBeReadOnly: options.canBeReadOnly ?? false,
        reconnectDelayMin: options.reconnectDelay?.min ?? 100,
        reconnectDelayMax: options.reconnectDelay?.max ?? 2000,
        maxFrameBytes: options.maxFrameBytes ?? 4 * 1024 * 1024,
        closeTimeout: options.closeTimeout ?? 2000,
        tls: options.tls ?? null,
        logger: this.logger,
      },
      {
        state: (state, reason) => this.onState(state, reason),
        notification: (event, zxid) => this.onNotification(event, zxid),
        watchPaths: () => this.serverWatchPaths(),
      },
    );
  }

  // ---- session ---------------------------------------------------------------------------

  /** The session id (0n until the first session is established). */
  get sessionId(): bigint {
    return this.connection.sessionId;
  }

  /** The session id as ZooKeeper prints it: "0x" and lowercase hex. */
  get sessionIdHex(): string {
    return `0x${hex(this.connection.sessionId)}`;
  }

  /** Password to resume the session from another client (options.sessionId + sessionPassword). */
  get sessionPassword(): Buffer {
    return Buffer.from(this.connection.sessionPassword);
  }

  /** The session timeout the server granted (0 before the first session). */
  get sessionTimeout(): number {
    return this.connection.negotiatedTimeout;
  }

  get state(): ClientStateName {
    return this.lastState.state;
  }

  /** The last state change, with its time. */
  get stateChange(): StateChange {
    return this.lastState;
  }

  /** "host:port" of the server in use (or tried last). */
  get currentServer(): string | undefined {
    return this.connection.currentServer;
  }

  /** The highest zxid seen in a reply. */
  get lastZxid(): bigint {
    return this.connection.lastZxidSeen;
  }

  /**
   * Connects and resolves once a session is established. Rejects with SESSIONEXPIRED when
   * the session to resume is gone, AUTHFAILED on refused credentials, and CONNECTIONLOSS
   * when no server gave a session within options.connectTimeout (the client is then closed).
   */
  connect(): Promise<void> {
    if (this.connectPromise !== null) return this.connectPromise;
    this.connectPromise = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        void this.close();
        reject(zkError(ErrorCode.CONNECTIONLOSS, undefined, `Could not connect to ${this.hosts.map((h) => `${h.host}:${h.port}`).join(',')} within ${this.connectTimeout} ms`));
      }, this.connectTimeout);
      const onState = (change: StateChange): void => {
        const settle = (err?: Error): void => {
          clearTimeout(timer);
          this.off('state', onState);
          if (err === undefined) resolve();
          else reject(err);
        };
        if (change.state === 'SYNC_CONNECTED' || change.state === 'CONNECTED_READ_ONLY') settle();
        else if (change.state === 'EXPIRED' || change.state === 'AUTH_FAILED' || change.state === 'CLOSED') {
          settle(this.connection.terminalError());
        }
      };
      this.on('state', onState);
      if (this.connection.isTerminal) onState(this.lastState);
    });
    for (const a of this.initialAuth) this.connection.addAuth(a.scheme, a.auth).catch(() => undefined);
    this.connection.start();
    return this.connectPromise;
  }

  /** Ends the session (ephemerals go away) and stops the client. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  /** Adds a credential (e.g. 'digest', 'user:password'); it is re-sent on every reconnect. */
  addAuthInfo(scheme: string, auth: string | Buffer | Uint8Array): Promise<void> {
    return this.connection.addAuth(scheme, toBuffer(auth) ?? Buffer.alloc(0));
  }

  // ---- reads -----------------------------------------------------------------------------

  /** The node's Stat, or null when it does not exist (a watch is left either way). */
  exists(path: string, options: WatchOptions = {}): Promise<Stat | null> {
    validatePath(path);
    const listener = this.listenerOf(options.watch);
    return this.request(OpCode.exists, (w) => PathWatchRequestCodec.write(w, { path: this.server(path), watch: listener !== null }), (h, r) => {
      if (h.err === ErrorCode.NONODE) {
        if (listener !== null) this.watches.add('exist', path, listener);
        return null;
      }
      this.check(h, path);
      if (listener !== null) this.watches.add('data', path, listener);
      return StatResponseCodec.read(r).stat;
    });
  }

  getData(path: string, options: WatchOptions = {}): Promise<DataResult> {
    validatePath(path);
    const listener = this.listenerOf(options.watch);
    return this.request(OpCode.getData, (w) => PathWatchRequestCodec.write(w, { path: this.server(path), watch: listener !== null }), (h, r) => {
      this.check(h, path);
      if (listener !== null) this.watches.add('data', path, listener);
      return GetDataResponseCodec.read(r);
    });
  }

  /** Child names (unordered, as the server keeps them). */
  async getChildren(path: string, options: WatchOptions = {}): Promise<string[]> {
    return (await this.childrenRequest(OpCode.getChildren, path, options)).children;
  }

  /** Child names and the parent's Stat (getChildren2). */
  getChildrenWithStat(path: string, options: WatchOptions = {}): Promise<ChildrenResult> {
    return this.childrenRequest(OpCode.getChildren2, path, options) as Promise<ChildrenResult>;
  }

  private childrenRequest(opcode: number, path: string, options: WatchOptions): Promise<{ children: string[]; stat?: Stat }> {
    validatePath(path);
    const listener = this.listenerOf(options.watch);
    return this.request(opcode, (w) => PathWatchRequestCodec.write(w, { path: this.server(path), watch: listener !== null }), (h, r) => {
      this.check(h, path);
      if (listener !== null) this.watches.add('child', path, listener);
      return opcode === OpCode.getChildren2 ? Children2ResponseCodec.read(r) : ChildrenResponseCodec.read(r);
    });
  }

  getACL(path: string): Promise<AclResult> {
    validatePath(path);
    return this.request(OpCode.getACL, (w) => PathRequestCodec.write(w, { path: this.server(path) }), (h, r) => {
      this.check(h, path);
      return GetACLResponseCodec.read(r);
    });
  }

  /** Number of all descendants of the node (not only its children). */
  getAllChildrenNumber(path: string): Promise<number> {
    validatePath(path);
    return this.request(OpCode.getAllChildrenNumber, (w) => PathRequestCodec.write(w, { path: this.server(path) }), (h, r) => {
      this.check(h, path);
      return CountResponseCodec.read(r).totalNumber;
    });
  }

  /** This session's ephemeral nodes whose path starts with prefix ('/' for all). */
  getEphemerals(prefix = '/'): Promise<string[]> {
    const serverPrefix = this.chroot === '' ? prefix : toServerPath(this.chroot, prefix);
    return this.request(OpCode.getEphemerals, (w) => PathRequestCodec.write(w, { path: serverPrefix }), (h, r) => {
      this.check(h, prefix);
      const inside = (p: string): boolean => this.chroot === '' || p === this.chroot || p.startsWith(`${this.chroot}/`);
      return ChildrenResponseCodec.read(r).children.filter(inside).map((p) => toClientPath(this.chroot, p));
    });
  }

  /** The identities this connection holds (scheme and user), e.g. the automatic ip one. */
  whoAmI(): Promise<ClientInfo[]> {
    return this.request(OpCode.whoAmI, () => undefined, (h, r) => {
      this.check(h);
      return WhoAmIResponseCodec.read(r).clientInfo;
    });
  }

  /** Waits until the server this client talks to has caught up with the leader. */
  sync(path = '/'): Promise<string> {
    validatePath(path);
    return this.request(OpCode.sync, (w) => PathRequestCodec.write(w, { path: this.server(path) }), (h, r) => {
      this.check(h, path);
      return toClientPath(this.chroot, PathResponseCodec.read(r).path);
    });
  }

  // ---- writes ----------------------------------------------------------------------------

  /**
   * Creates a node. Containers use createContainer (19), TTL modes createTTL (21), the others
   * create2 (15); the result is the created path (with any sequence suffix) and its Stat.
   */
  create(path: string, data?: DataInput, options: CreateOptions = {}): Promise<CreateResult> {
    const op = toMultiOp({ op: 'create', path, data, ...options }, this.chroot);
    return this.request(op.type, (w) => (op.type === OpCode.createTTL ? CreateTTLRequestCodec : CreateRequestCodec).write(w, op.request as CreateRequest), (h, r) => {
      this.check(h, path);
      const result = PathStatResponseCodec.read(r);
      return { path: toClientPath(this.chroot, result.path), stat: result.stat };
    });
  }

  delete(path: string, options: VersionOption = {}): Promise<void> {
    validatePath(path);
    return this.request(OpCode.delete, (w) => PathVersionRequestCodec.write(w, { path: this.server(path), version: options.version ?? -1 }), (h) => {
      this.check(h, path);
    });
  }

  setData(path: string, data: DataInput, options: VersionOption = {}): Promise<Stat> {
    validatePath(path);
    const bytes = toBuffer(data);
    return this.request(OpCode.setData, (w) => SetDataRequestCodec.write(w, { path: this.server(path), data: bytes, version: options.version ?? -1 }), (h, r) => {
      this.check(h, path);
      return StatResponseCodec.read(r).stat;
    });
  }

  setACL(path: string, acl: readonly ACL[], options: VersionOption = {}): Promise<Stat> {
    validatePath(path);
    return this.request(OpCode.setACL, (w) => SetACLRequestCodec.write(w, { path: this.server(path), acl: [...acl], version: options.version ?? -1 }), (h, r) => {
      this.check(h, path);
      return StatResponseCodec.read(r).stat;
    });
  }

  /**
   * Runs ops atomically. On failure rejects with the failing op's error, whose `results`
   * holds every op's outcome (OK before it, its code, RUNTIMEINCONSISTENCY after it).
   */
  multi(ops: readonly Op[]): Promise<OpResult[]> {
    const multiOps = ops.map((op) => toMultiOp(op, this.chroot));
    return this.request(OpCode.multi, (w) => writeMultiRequest(w, multiOps), (h, r) => {
      this.check(h);
      return multiResults(ops, readMultiResponse(r), this.chroot);
    });
  }

  /** A builder: client.transaction().create(...).setData(...).check(...).commit(). */
  transaction(): Transaction {
    return new Transaction((ops) => this.multi(ops));
  }

  /** Independent reads in one round trip; each result is a value or an error. */
  multiRead(ops: readonly ReadOp[]): Promise<ReadOpResult[]> {
    for (const op of ops) validatePath(op.path);
    const multiOps: MultiOp[] = ops.map((op) => ({
      type: op.op === 'getData' ? OpCode.getData : OpCode.getChildren,
      request: { path: this.server(op.path), watch: false },
    }));
    return this.request(OpCode.multiRead, (w) => writeMultiRequest(w, multiOps), (h, r) => {
      this.check(h);
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

  // ---- watches ---------------------------------------------------------------------------

  /**
   * Adds a persistent watch (PERSISTENT: data and children of the path; PERSISTENT_RECURSIVE:
   * the path and every descendant, no NodeChildrenChanged). It stays until removeWatches.
   */
  addWatch(path: string, mode: AddWatchModeName, listener: WatchListener): Promise<void> {
    validatePath(path);
    const kind: WatchKind = mode === 'PERSISTENT' ? 'persistent' : 'persistentRecursive';
    return this.request(OpCode.addWatch, (w) => PathTypeRequestCodec.write(w, { path: this.server(path), type: AddWatchMode[mode] }), (h) => {
      this.check(h, path);
      this.watches.add(kind, path, listener);
    });
  }

  /** Asks the server whether this connection holds such a watch (NOWATCHER if not). */
  async checkWatches(path: string, type: WatcherTypeName): Promise<void> {
    validatePath(path);
    await this.watchRequest(OpCode.checkWatches, path, type, true);
  }

  /**
   * checkWatches / removeWatches. Servers before 3.9 (ZOOKEEPER-4472) refuse the persistent
   * watcher types with MARSHALLINGERROR; for them the request is re-sent as type Any when
   * `anyIsSafe` (nothing else of ours on the path would be dropped with it).
   */
  private async watchRequest(opcode: number, path: string, type: WatcherTypeName, anyIsSafe: boolean): Promise<void> {
    const send = (t: WatcherTypeName): Promise<void> =>
      this.request(opcode, (w) => PathTypeRequestCodec.write(w, { path: this.server(path), type: WatcherType[t] }), (h) => {
        this.check(h, path);
      });
    try {
      await send(type);
    } catch (err) {
      const persistent = type === 'Persistent' || type === 'PersistentRecursive';
      if (!persistent || (err as ZooKeeperError).code !== ErrorCode.MARSHALLINGERROR) throw err;
      if (anyIsSafe) await send('Any');
      else this.logger.warn({ path, type }, 'server cannot remove one persistent watch type; dropped locally only');
    }
  }

  /**
   * Removes watches of a type on a path: one listener, or all when none is given. The server
   * is asked to drop its registration once no listener of that kind is left. Removed
   * listeners get a DataWatchRemoved / ChildWatchRemoved / PersistentWatchRemoved event.
   * With `local: true` only the client's own registrations are dropped (works offline).
   */
  async removeWatches(path: string, type: WatcherTypeName, options: { listener?: WatchListener; local?: boolean } = {}): Promise<void> {
    validatePath(path);
    const { listener } = options;
    const kinds = kindsOf(type);
    if (!kinds.some((k) => this.watches.has(k, path, listener))) throw zkError(ErrorCode.NOWATCHER, path);
    // Other listeners of these kinds still need the server's registration.
    const othersLeft = listener !== undefined && kinds.some((k) => this.watches.count(k, path) > (this.watches.has(k, path, listener) ? 1 : 0));
    if (options.local !== true && !othersLeft) {
      const otherKinds = kindsOf('Any').filter((k) => !kinds.includes(k) && this.watches.has(k, path));
      await this.watchRequest(OpCode.removeWatches, path, type, otherKinds.length === 0);
    }
    for (const kind of kinds) {
      const event = localEvent(removedEventType(kind), path);
      for (const removed of this.watches.remove(kind, path, listener)) {
        if (removed !== defaultWatcher) this.deliver(removed, event);
      }
    }
  }

  // ---- plumbing --------------------------------------------------------------------------

  private request<T>(opcode: number, write: (w: JuteWriter) => void, decode: (header: ReplyHeader, reader: JuteReader) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.connection.submit({
        opcode,
        write,
        handle: (header, reader) => {
          try {
            resolve(decode(header, reader));
          } catch (err) {
            reject(err);
          }
        },
        fail: reject,
      });
    });
  }

  private check(header: ReplyHeader, path?: string): void {
    if (header.err !== ErrorCode.OK) throw zkError(header.err, path);
  }

  private server(path: string): string {
    return toServerPath(this.chroot, path);
  }

  private listenerOf(watch: WatchOption): WatchListener | null {
    if (typeof watch === 'function') return watch;
    return watch === true ? defaultWatcher : null;
  }

  private serverWatchPaths(): WatchPaths {
    const map = (kind: WatchKind): string[] => this.watches.paths(kind).map((p) => this.server(p));
    return {
      data: map('data'),
      exist: map('exist'),
      child: map('child'),
      persistent: map('persistent'),
      persistentRecursive: map('persistentRecursive'),
    };
  }

  private onNotification(raw: WatcherEvent, zxid: bigint): void {
    if (raw.type === EventType.None) return;
    const event: WatchedEvent = { type: eventTypeName(raw.type) as EventTypeName, path: toClientPath(this.chroot, raw.path), zxid };
    const listeners = this.watches.materialize(event.type, event.path);
    listeners.delete(defaultWatcher);
    for (const listener of listeners) this.deliver(listener, event);
    queueMicrotask(() => this.emit('event', event));
  }

  private deliver(listener: WatchListener, event: WatchedEvent): void {
    queueMicrotask(() => {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err, path: event.path, type: event.type }, 'watch listener threw');
      }
    });
  }

  private onState(state: ClientStateName, reason: string | undefined): void {
    const change: StateChange = { state, at: Date.now(), sessionId: this.connection.sessionId };
    if (this.connection.currentServer !== undefined) change.server = this.connection.currentServer;
    if (reason !== undefined) change.reason = reason;
    this.lastState = change;
    if (state === 'EXPIRED' || state === 'AUTH_FAILED' || state === 'CLOSED') this.watches.clear();
    this.emit('state', change);
  }
}

function kindsOf(type: WatcherTypeName): WatchKind[] {
  switch (type) {
    case 'Children':
      return ['child'];
    case 'Data':
      return ['data', 'exist'];
    case 'Persistent':
      return ['persistent'];
    case 'PersistentRecursive':
      return ['persistentRecursive'];
    default:
      return ['data', 'exist', 'child', 'persistent', 'persistentRecursive'];
  }
}

function removedEventType(kind: WatchKind): EventTypeName {
  if (kind === 'child') return 'ChildWatchRemoved';
  if (kind === 'persistent' || kind === 'persistentRecursive') return 'PersistentWatchRemoved';
  return 'DataWatchRemoved';
}

/** Creates a client; call connect() (or any operation) to start it. */
export function createClient(connectString: string, options: ClientOptions = {}): ZooKeeperClient {
  return new ZooKeeperClient(connectString, options);
}

export { CreateMode, ZooKeeperError };
export type { CreateModeName };
