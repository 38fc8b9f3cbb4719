import { EventEmitter } from 'node:events';
import { CreateMode, ErrorCode } from '../protocol/constants.js';
import type { ACL, ClientInfo, Stat } from '../protocol/records.js';
import { parseConnectString, shuffled, type HostPort } from './connect-string.js';
import { Connection, hex } from './connection.js';
import { ZooKeeperError, zkError } from './errors.js';
import { toBuffer, Transaction } from './multi.js';
import { Operations } from './operations.js';
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
  Op,
  OpResult,
  ReadOp,
  ReadOpResult,
  StateChange,
  VersionOption,
  WatchedEvent,
  WatcherTypeName,
  WatchListener,
  WatchOptions,
} from './types.js';
import { Watches } from './watches.js';

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
  private readonly watches: Watches;
  private readonly operations: Operations;
  private readonly connectTimeout: number;
  private readonly initialAuth: { scheme: string; auth: Buffer }[];
  private connectPromise: Promise<void> | null = null;
  private lastState: StateChange;

  constructor(connectString: string, options: ClientOptions = {}) {
    super();
    const parsed = parseConnectString(connectString);
    this.hosts = options.shuffleHosts === false ? parsed.hosts : shuffled(parsed.hosts);
    this.chroot = parsed.chroot;
    const logger = options.logger ?? noopLogger;
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
        logger,
      },
      {
        state: (state, reason) => this.onState(state, reason),
        notification: (event, zxid) => this.watches.notify(event, zxid),
        watchPaths: () => this.watches.serverPaths(),
      },
    );
    this.watches = new Watches(this.connection, this.chroot, logger, (event) => this.emit('event', event));
    this.operations = new Operations(this.connection, this.chroot, this.watches);
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

  private onState(state: ClientStateName, reason: string | undefined): void {
    const change: StateChange = { state, at: Date.now(), sessionId: this.connection.sessionId };
    if (this.connection.currentServer !== undefined) change.server = this.connection.currentServer;
    if (reason !== undefined) change.reason = reason;
    this.lastState = change;
    if (state === 'EXPIRED' || state === 'AUTH_FAILED' || state === 'CLOSED') this.watches.clear();
    this.emit('state', change);
  }

  // ---- reads -----------------------------------------------------------------------------

  /** The node's Stat, or null when it does not exist (a watch is left either way). */
  exists(path: string, options: WatchOptions = {}): Promise<Stat | null> {
    return this.operations.exists(path, options);
  }

  getData(path: string, options: WatchOptions = {}): Promise<DataResult> {
    return this.operations.getData(path, options);
  }

  /** Child names (unordered, as the server keeps them). */
  getChildren(path: string, options: WatchOptions = {}): Promise<string[]> {
    return this.operations.getChildren(path, options);
  }

  /** Child names and the parent's Stat (getChildren2). */
  getChildrenWithStat(path: string, options: WatchOptions = {}): Promise<ChildrenResult> {
    return this.operations.getChildrenWithStat(path, options);
  }

  getACL(path: string): Promise<AclResult> {
    return this.operations.getACL(path);
  }

  /** Number of all descendants of the node (not only its children). */
  getAllChildrenNumber(path: string): Promise<number> {
    return this.operations.getAllChildrenNumber(path);
  }

  /** This session's ephemeral nodes whose path starts with prefix ('/' for all). */
  getEphemerals(prefix = '/'): Promise<string[]> {
    return this.operations.getEphemerals(prefix);
  }

  /** The identities this connection holds (scheme and user), e.g. the automatic ip one. */
  whoAmI(): Promise<ClientInfo[]> {
    return this.operations.whoAmI();
  }

  /** Waits until the server this client talks to has caught up with the leader. */
  sync(path = '/'): Promise<string> {
    return this.operations.sync(path);
  }

  // ---- writes ----------------------------------------------------------------------------

  /**
   * Creates a node. Containers use createContainer (19), TTL modes createTTL (21), the others
   * create2 (15); the result is the created path (with any sequence suffix) and its Stat.
   */
  create(path: string, data?: DataInput, options: CreateOptions = {}): Promise<CreateResult> {
    return this.operations.create(path, data, options);
  }

  delete(path: string, options: VersionOption = {}): Promise<void> {
    return this.operations.delete(path, options);
  }

  setData(path: string, data: DataInput, options: VersionOption = {}): Promise<Stat> {
    return this.operations.setData(path, data, options);
  }

  setACL(path: string, acl: readonly ACL[], options: VersionOption = {}): Promise<Stat> {
    return this.operations.setACL(path, acl, options);
  }

  /**
   * Runs ops atomically. On failure rejects with the failing op's error, whose `results`
   * holds every op's outcome (OK before it, its code, RUNTIMEINCONSISTENCY after it).
   */
  multi(ops: readonly Op[]): Promise<OpResult[]> {
    return this.operations.multi(ops);
  }

  /** A builder: client.transaction().create(...).setData(...).check(...).commit(). */
  transaction(): Transaction {
    return new Transaction((ops) => this.multi(ops));
  }

  /** Independent reads in one round trip; each result is a value or an error. */
  multiRead(ops: readonly ReadOp[]): Promise<ReadOpResult[]> {
    return this.operations.multiRead(ops);
  }

  // ---- watches ---------------------------------------------------------------------------

  /**
   * Adds a persistent watch (PERSISTENT: data and children of the path; PERSISTENT_RECURSIVE:
   * the path and every descendant, no NodeChildrenChanged). It stays until removeWatches.
   */
  addWatch(path: string, mode: AddWatchModeName, listener: WatchListener): Promise<void> {
    return this.watches.addWatch(path, mode, listener);
  }

  /** Asks the server whether this connection holds such a watch (NOWATCHER if not). */
  checkWatches(path: string, type: WatcherTypeName): Promise<void> {
    return this.watches.checkWatches(path, type);
  }

  /**
   * Removes watches of a type on a path: one listener, or all when none is given. The server
   * is asked to drop its registration once no listener of that kind is left. Removed
   * listeners get a DataWatchRemoved / ChildWatchRemoved / PersistentWatchRemoved event.
   * With `local: true` only the client's own registrations are dropped (works offline).
   */
  removeWatches(path: string, type: WatcherTypeName, options: { listener?: WatchListener; local?: boolean } = {}): Promise<void> {
    return this.watches.removeWatches(path, type, options);
  }
}

/** Creates a client; call connect() (or any operation) to start it. */
export function createClient(connectString: string, options: ClientOptions = {}): ZooKeeperClient {
  return new ZooKeeperClient(connectString, options);
}

export { CreateMode, ZooKeeperError };
export type { CreateModeName };
