import type { ACL, ClientInfo, Id, Stat } from '../protocol/records.js';
import type { CreateModeName } from '../protocol/constants.js';

export type { ACL, ClientInfo, Id, Stat, CreateModeName };

/** Data as callers may give it; it always comes back as a Buffer (or null). */
export type DataInput = string | Buffer | Uint8Array | null | undefined;

export type ClientStateName =
  | 'CONNECTING'
  | 'SYNC_CONNECTED'
  | 'CONNECTED_READ_ONLY'
  | 'DISCONNECTED'
  | 'EXPIRED'
  | 'AUTH_FAILED'
  | 'CLOSED';

export interface StateChange {
  state: ClientStateName;
  /** Date.now() when the client entered the state. */
  at: number;
  /** The session id at that moment (0n before the first session). */
  sessionId: bigint;
  /** The server the client is connected to (or tried last), "host:port". */
  server?: string;
  /** Why the client left its previous state, when there is something to say. */
  reason?: string;
}

export type EventTypeName =
  | 'NodeCreated'
  | 'NodeDeleted'
  | 'NodeDataChanged'
  | 'NodeChildrenChanged'
  | 'DataWatchRemoved'
  | 'ChildWatchRemoved'
  | 'PersistentWatchRemoved';

/** A watch notification, path relative to the chroot. */
export interface WatchedEvent {
  type: EventTypeName;
  path: string;
  /** Zxid of the change on 3.9+ servers; -1n otherwise and for locally made events. */
  zxid: bigint;
}

export type WatchListener = (event: WatchedEvent) => void;

/** `watch: true` leaves the event to the client's default watcher ('event' listeners). */
export type WatchOption = WatchListener | boolean | undefined;

export type WatcherTypeName = 'Children' | 'Data' | 'Any' | 'Persistent' | 'PersistentRecursive';
export type AddWatchModeName = 'PERSISTENT' | 'PERSISTENT_RECURSIVE';

/** The minimal logger the client needs; a pino child logger fits. */
export interface ClientLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ClientOptions {
  /** Requested session timeout in ms (the server clamps it). Default 30000. */
  sessionTimeout?: number;
  /** Resume this session instead of creating one (needs sessionPassword). */
  sessionId?: bigint;
  sessionPassword?: Buffer;
  /** Accept a read-only server (one that lost its quorum). Default false. */
  canBeReadOnly?: boolean;
  /** Shuffle the host list like ZooKeeper's client does. Default true; false keeps the given order. */
  shuffleHosts?: boolean;
  /**
   * connect() gives up (and the client closes) when no server accepted a session within this
   * many ms. Default: twice the requested session timeout.
   */
  connectTimeout?: number;
  /** Pause between two rounds over the whole host list: doubles from min to max. Default 100..2000 ms. */
  reconnectDelay?: { min: number; max: number };
  /** Largest reply frame accepted. Default 4 MiB. */
  maxFrameBytes?: number;
  /** How long close() waits for the server to acknowledge closeSession. Default 2000 ms. */
  closeTimeout?: number;
  /** Default watcher: receives every watch notification (same as client.on('event')). */
  watcher?: WatchListener;
  /** Credentials sent before anything else on every connection. */
  authInfo?: { scheme: string; auth: string | Buffer }[];
  /** Connect over TLS (a server's secureClientPort); omitted: plain TCP. */
  tls?: ClientTlsOptions;
  logger?: ClientLogger;
}

/**
 * TLS to the server: PEM text (read the files yourself). `ca` is what the server's
 * certificate must chain to (Node's bundled CAs when omitted); `cert` and `key` are this
 * client's certificate, which a server with ssl.clientAuth=need insists on and which
 * authenticates the connection as `x509:<subject DN>`.
 */
export interface ClientTlsOptions {
  ca?: string | Buffer | (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  /** For an encrypted `key`. */
  passphrase?: string;
  /** Check the server's certificate (chain and host name). Default true. */
  rejectUnauthorized?: boolean;
  /** The name the server's certificate must carry; default the host from the connect string. */
  servername?: string;
}

export interface CreateOptions {
  mode?: CreateModeName;
  acl?: ACL[];
  /** Milliseconds, for the *_WITH_TTL modes. */
  ttl?: number | bigint;
}

export interface CreateResult {
  path: string;
  stat: Stat;
}

export interface DataResult {
  data: Buffer | null;
  stat: Stat;
}

export interface ChildrenResult {
  children: string[];
  stat: Stat;
}

export interface AclResult {
  acl: ACL[];
  stat: Stat;
}

export interface VersionOption {
  /** Expected version; -1 (the default) matches any. */
  version?: number;
}

export interface WatchOptions {
  watch?: WatchOption;
}

/** One op of multi(); mirrors the transaction() builder. */
export type Op =
  | { op: 'create'; path: string; data?: DataInput; mode?: CreateModeName; acl?: ACL[]; ttl?: number | bigint }
  | { op: 'delete'; path: string; version?: number }
  | { op: 'setData'; path: string; data: DataInput; version?: number }
  | { op: 'check'; path: string; version?: number };

export type OpResult =
  | { op: 'create'; path: string; stat: Stat | null }
  | { op: 'delete' }
  | { op: 'setData'; stat: Stat }
  | { op: 'check' };

export type ReadOp = { op: 'getData'; path: string } | { op: 'getChildren'; path: string };

export type ReadOpResult =
  | { op: 'getData'; path: string; data: Buffer | null; stat: Stat }
  | { op: 'getChildren'; path: string; children: string[] }
  | { op: 'error'; path: string; error: Error & { code: number; codeName: string } };
