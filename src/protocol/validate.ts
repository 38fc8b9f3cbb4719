import { ProtocolError, ZkError } from '../errors.js';
import { AddWatchMode, CreateMode, ErrorCode, OpCode, Perms, WatcherType, errorName, opName, ttlMsMax } from './constants.js';
import type { ACL, CreateRequest, Id, MultiOp, PathRequest, PathTypeRequest, PathVersionRequest, PathWatchRequest, SetACLRequest, SetDataRequest } from './records.js';

// Every rule a client request must pass before it may become a txn, in one place: a request
// is refused here (ZooKeeper's error code, nothing proposed) or, when ZooKeeper cannot read it
// either, the connection is answered MARSHALLINGERROR and closed (a ProtocolError). The rules
// and ZooKeeper's answer to each are listed in docs/protocol.md 12.7.

/** A request refused by the rules: the client gets `code`; nothing reaches consensus. */
export class InvalidRequest extends ZkError {
  constructor(
    code: number,
    /** The field at fault, as a path into the record: `acl[1].id`, `ops[2].path`. */
    readonly field: string,
    /** What was wrong with it. */
    readonly problem: string,
    /** In a multi: the index of the op refused (the others are reported OK or not run). */
    readonly opIndex = -1,
    /** In a multi: how many ops it has. */
    readonly opCount = 0,
  ) {
    super(code, `${errorName(code)}: ${field} ${problem}`);
    this.name = 'InvalidRequest';
  }
}

/** What a rule needs to know besides the record. */
export interface ValidationContext {
  /** The ids the caller's connection holds (for the `auth` ACL scheme). */
  readonly authIds: readonly Id[];
  /** zookeeper.extendedTypesEnabled: TTL nodes. */
  readonly extendedTypesEnabled: boolean;
}

function refuse(code: number, field: string, problem: string): never {
  throw new InvalidRequest(code, field, problem);
}

/** ZooKeeper cannot read it either (it fails with an exception there): MARSHALLINGERROR, close. */
function unreadable(field: string, problem: string): never {
  throw new ProtocolError(`${field} ${problem}`);
}

// ---- paths --------------------------------------------------------------------------------

/**
 * Why a path is not a valid znode path, or null when it is (ZooKeeper's PathUtils rules,
 * docs/protocol.md 12.1). One pass, no allocation. Bytes that are not UTF-8 decode to
 * U+FFFD, which is refused here as ZooKeeper refuses it.
 */
export function pathProblem(path: string): string | null {
  const n = path.length;
  if (n === 0) return 'must not be empty';
  if (path.charCodeAt(0) !== 47) return 'must start with /';
  if (n === 1) return null;
  if (path.charCodeAt(n - 1) === 47) return 'must not end with /';
  let segmentStart = 1;
  for (let i = 1; i <= n; i++) {
    const c = i < n ? path.charCodeAt(i) : 47;
    if (c === 47) {
      const len = i - segmentStart;
      if (len === 0) return `has an empty segment at offset ${i}`;
      if (len <= 2 && path.charCodeAt(segmentStart) === 46 && (len === 1 || path.charCodeAt(segmentStart + 1) === 46)) {
        return `has a relative segment '${path.slice(segmentStart, i)}' at offset ${segmentStart}`;
      }
      segmentStart = i + 1;
      continue;
    }
    if (c === 0) return `has a null character at index ${i}`;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0) {
      return `has an invalid character U+${c.toString(16).padStart(4, '0')} at index ${i}`;
    }
  }
  return null;
}

/** The nodes every server has, which no client may delete. */
export const builtInPaths: ReadonlySet<string> = new Set(['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']);

function requireValidPath(path: string, field: string): void {
  const problem = pathProblem(path);
  if (problem !== null) refuse(ErrorCode.BADARGUMENTS, field, `'${printable(path)}' ${problem}`);
}

/** ZooKeeper's delete rule: a '/', no NUL, not a built-in node (other paths simply do not exist). */
function requireDeletablePath(path: string, field: string): void {
  if (path.lastIndexOf('/') < 0) refuse(ErrorCode.BADARGUMENTS, field, `'${printable(path)}' has no '/'`);
  if (path.includes('\u0000')) refuse(ErrorCode.BADARGUMENTS, field, `'${printable(path)}' has a null character`);
  if (builtInPaths.has(path)) refuse(ErrorCode.BADARGUMENTS, field, `'${path}' is a built-in node`);
}

/** A string as it may appear in a log line: control characters escaped, long ones cut. */
function printable(s: string): string {
  const cut = s.length > 200 ? `${s.slice(0, 200)}...` : s;
  return JSON.stringify(cut).slice(1, -1);
}

// ---- ACL ids ------------------------------------------------------------------------------

/** "a.b.c.d", an IPv6 literal (with :: and an IPv4 tail) as bytes, or null. */
export function ipBytes(addr: string): number[] | null {
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  const parts = v4.split('.');
  if (parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return parts.map(Number);
  if (!addr.includes(':')) return null;
  const gap = addr.indexOf('::');
  if (gap >= 0 && addr.indexOf('::', gap + 1) >= 0) return null;
  const head = gap < 0 ? addr : addr.slice(0, gap);
  const tail = gap < 0 ? undefined : addr.slice(gap + 2);
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  if (fill < 0 || (tail !== undefined && fill === 0)) return null;
  const groups = [...h, ...new Array<string>(fill).fill('0'), ...t];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

/** An ip ACL id, "addr" or "addr/bits" (IPv4 or IPv6), as bytes and a prefix length, or null. */
export function parseIpPattern(pattern: string): { bytes: number[]; bits: number } | null {
  const slash = pattern.indexOf('/');
  const addr = slash < 0 ? pattern : pattern.slice(0, slash);
  const bytes = ipBytes(addr);
  if (bytes === null) return null;
  if (slash < 0) return { bytes, bits: bytes.length * 8 };
  const bitsText = pattern.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  return bits > bytes.length * 8 ? null : { bytes, bits };
}

/** A digest id: user ':' base64(sha1(user:password)) (28 characters ending in '='). */
const digestHash = /^[A-Za-z0-9+/]{27}=$/;

function digestIdProblem(id: string): string | null {
  const colon = id.indexOf(':');
  if (colon < 0 || id.indexOf(':', colon + 1) >= 0) return 'must be user:hash with exactly one ":"';
  if (id.includes('\ufffd')) return 'is not UTF-8';
  if (!digestHash.test(id.slice(colon + 1))) return 'hash must be the base64 of a SHA-1 digest (28 characters)';
  return null;
}

const dnAttributeType = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/;
const hexPair = /^[0-9A-Fa-f]{2}$/;

/**
 * Whether `dn` is a distinguished name as an X.509 subject is written (RFC 4514, with RFC
 * 1779's ';' separators, quoted values and spaces around separators, as Java's X500Principal
 * reads them): rdn (',' rdn)*, rdn = type '=' value ('+' type '=' value)*.
 */
export function dnProblem(dn: string): string | null {
  if (dn.trim() === '') return 'must not be empty';
  if (dn.includes('\ufffd')) return 'is not UTF-8';
  let i = 0;
  const n = dn.length;
  const skipSpaces = () => {
    while (i < n && dn[i] === ' ') i++;
  };
  for (;;) {
    skipSpaces();
    const typeStart = i;
    while (i < n && dn[i] !== '=' && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') i++;
    const type = dn.slice(typeStart, i).trim();
    if (i >= n || dn[i] !== '=') return `attribute '${printable(type)}' at offset ${typeStart} has no '='`;
    if (!dnAttributeType.test(type)) return `attribute type '${printable(type)}' at offset ${typeStart} is not a keyword or an OID`;
    i++;
    skipSpaces();
    if (dn[i] === '#') {
      const start = ++i;
      while (i < n && /[0-9A-Fa-f]/.test(dn[i]!)) i++;
      if (i === start || (i - start) % 2 !== 0) return `hex value at offset ${start - 1} is not whole bytes`;
    } else if (dn[i] === '"') {
      i++;
      while (i < n && dn[i] !== '"') i += dn[i] === '\\' ? 2 : 1;
      if (i >= n) return 'quoted value has no closing quote';
      i++;
    } else {
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
        const c = dn[i]!;
        if (c === '\\') {
          const next = dn[i + 1];
          if (next !== undefined && ',=+<>#;"\\ '.includes(next)) i += 2;
          else if (hexPair.test(dn.slice(i + 1, i + 3))) i += 3;
          else return `bad escape at offset ${i}`;
          continue;
        }
        if (c === '"' || c === '<' || c === '>') return `unescaped '${c}' at offset ${i}`;
        i++;
      }
    }
    skipSpaces();
    if (i >= n) return null;
    const separator = dn[i]!;
    if (separator !== ',' && separator !== '+' && separator !== ';') return `unexpected '${printable(separator)}' at offset ${i}`;
    i++;
    if (i >= n || dn.slice(i).trim() === '') return `ends with '${separator}'`;
  }
}

/** The ACL schemes a client may name; anything else is INVALIDACL, as ZooKeeper has no provider for it. */
export const aclSchemes: ReadonlySet<string> = new Set(['world', 'auth', 'digest', 'ip', 'x509']);

/** Schemes whose ids a connection holds without proving anything: not expanded by `auth`. */
export function isAuthenticatedScheme(scheme: string): boolean {
  return scheme !== 'ip' && scheme !== 'world' && scheme !== 'super';
}

/**
 * Checks an ACL list of a create or setACL (ZooKeeper's fixupACL rules, plus permission bits
 * that mean something: 1..31). `field` names the list in the refusal.
 */
export function validateAcl(acl: readonly ACL[] | null, authIds: readonly Id[], field: string): void {
  if (acl === null) refuse(ErrorCode.INVALIDACL, field, 'is null');
  if (acl.length === 0) refuse(ErrorCode.INVALIDACL, field, 'is empty');
  for (let i = 0; i < acl.length; i++) {
    const entry = acl[i]!;
    const at = `${field}[${i}]`;
    const { scheme, id } = entry.id;
    if (scheme === null) refuse(ErrorCode.INVALIDACL, `${at}.scheme`, 'is null');
    if (!Number.isInteger(entry.perms) || entry.perms <= 0 || entry.perms > Perms.ALL) {
      refuse(ErrorCode.INVALIDACL, `${at}.perms`, `${entry.perms} is not a set of permission bits (1..31)`);
    }
    if (scheme === 'auth') {
      // The id is not read (kazoo sends null); the caller's own ids replace the entry.
      if (!authIds.some((a) => isAuthenticatedScheme(a.scheme))) refuse(ErrorCode.INVALIDACL, `${at}.scheme`, "is 'auth' but the connection holds no authenticated id");
      continue;
    }
    if (!aclSchemes.has(scheme)) refuse(ErrorCode.INVALIDACL, `${at}.scheme`, `'${printable(scheme)}' is not a known scheme`);
    // ZooKeeper reads a null id as a Java null and fails with an exception: MARSHALLINGERROR.
    if (id === null) unreadable(`${at}.id`, 'is null');
    const problem = idProblem(scheme, id);
    if (problem !== null) refuse(ErrorCode.INVALIDACL, `${at}.id`, `'${printable(id)}' ${problem}`);
  }
}

function idProblem(scheme: string, id: string): string | null {
  switch (scheme) {
    case 'world':
      return id === 'anyone' ? null : "must be 'anyone'";
    case 'digest':
      return digestIdProblem(id);
    case 'ip':
      return parseIpPattern(id) === null ? 'is not an IPv4 or IPv6 address with an optional /bits' : null;
    case 'x509':
      return dnProblem(id);
    default:
      return 'is not a known scheme';
  }
}

// ---- requests -----------------------------------------------------------------------------

const sequentialFlags: ReadonlySet<number> = new Set([CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL]);

/** A create of any kind (create, create2, createContainer, createTTL), alone or in a multi. */
export function validateCreate(type: number, req: CreateRequest, ctx: ValidationContext, prefix = ''): void {
  const flags = req.flags;
  if (!Number.isInteger(flags) || flags < CreateMode.PERSISTENT || flags > CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL) {
    refuse(ErrorCode.BADARGUMENTS, `${prefix}flags`, `${flags} is not a create mode`);
  }
  const ttlMode = flags === CreateMode.PERSISTENT_WITH_TTL || flags === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
  if (type === OpCode.createTTL || ttlMode) {
    if (!ctx.extendedTypesEnabled) refuse(ErrorCode.UNIMPLEMENTED, `${prefix}flags`, 'asks for a TTL node but extendedTypesEnabled is off');
    if (type !== OpCode.createTTL) refuse(ErrorCode.BADARGUMENTS, `${prefix}flags`, `${flags} is a TTL mode, which needs createTTL`);
    if (!ttlMode) refuse(ErrorCode.BADARGUMENTS, `${prefix}flags`, `${flags} is not a TTL mode, which createTTL needs`);
    const ttl = req.ttl ?? -1n;
    if (ttl <= 0n || ttl > ttlMsMax) refuse(ErrorCode.BADARGUMENTS, `${prefix}ttl`, `${ttl} is not within 1..${ttlMsMax} ms`);
  }
  if (type === OpCode.createContainer && flags !== CreateMode.CONTAINER) refuse(ErrorCode.BADARGUMENTS, `${prefix}flags`, `${flags} is not CONTAINER, which createContainer needs`);
  const path = req.path;
  if (path.lastIndexOf('/') < 0) refuse(ErrorCode.BADARGUMENTS, `${prefix}path`, `'${printable(path)}' has no '/'`);
  if (path.includes('\u0000')) refuse(ErrorCode.BADARGUMENTS, `${prefix}path`, `'${printable(path)}' has a null character`);
  validateAcl(req.acl, ctx.authIds, `${prefix}acl`);
  // ZooKeeper looks the parent up before it checks the whole path: a parent that is not a
  // valid path cannot exist, so that create is NONODE whatever the tree holds.
  const lastSlash = path.lastIndexOf('/');
  const parent = lastSlash === 0 ? '/' : path.slice(0, lastSlash);
  if (pathProblem(parent) !== null) refuse(ErrorCode.NONODE, `${prefix}path`, `'${printable(path)}' has a parent that is not a valid path, so it does not exist`);
  // The sequence suffix is added before the path is checked ("/a/" + sequential is legal).
  requireValidPath(sequentialFlags.has(flags) ? `${path}0000000000` : path, `${prefix}path`);
}

/** The whole request record of `type`, as decoded. Throws InvalidRequest or ProtocolError. */
export function validateRequest(type: number, record: unknown, ctx: ValidationContext): void {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return validateCreate(type, record as CreateRequest, ctx);
    case OpCode.delete:
      return requireDeletablePath((record as PathVersionRequest).path, 'path');
    case OpCode.deleteContainer:
      return requireDeletablePath((record as PathRequest).path, 'path');
    case OpCode.setData:
      return requireValidPath((record as SetDataRequest).path, 'path');
    case OpCode.setACL: {
      const req = record as SetACLRequest;
      requireValidPath(req.path, 'path');
      return validateAcl(req.acl, ctx.authIds, 'acl');
    }
    case OpCode.multi:
      return validateMulti(record as MultiOp[], ctx);
    case OpCode.exists:
      // Reads check nothing else (an invalid path is simply not there).
      if ((record as PathWatchRequest).path.includes('\u0000')) refuse(ErrorCode.BADARGUMENTS, 'path', 'has a null character');
      return;
    case OpCode.addWatch: {
      const mode = (record as PathTypeRequest).type;
      if (mode !== AddWatchMode.PERSISTENT && mode !== AddWatchMode.PERSISTENT_RECURSIVE) unreadable('mode', `${mode} is not PERSISTENT (0) or PERSISTENT_RECURSIVE (1)`);
      return;
    }
    case OpCode.checkWatches:
    case OpCode.removeWatches: {
      const watcherType = (record as PathTypeRequest).type;
      if (watcherType < WatcherType.Children || watcherType > WatcherType.PersistentRecursive) unreadable('type', `${watcherType} is not a watcher type (1..5)`);
      return;
    }
    default:
      return;
  }
}

function validateMulti(ops: readonly MultiOp[], ctx: ValidationContext): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const prefix = `ops[${i}](${opName(op.type)}).`;
    try {
      switch (op.type) {
        case OpCode.create:
        case OpCode.create2:
        case OpCode.createContainer:
        case OpCode.createTTL:
          validateCreate(op.type, op.request, ctx, prefix);
          break;
        case OpCode.delete:
          requireDeletablePath(op.request.path, `${prefix}path`);
          break;
        case OpCode.setData:
        case OpCode.check:
          requireValidPath(op.request.path, `${prefix}path`);
          break;
        default:
          unreadable(`${prefix}type`, 'is not an op a multi may hold');
      }
    } catch (err) {
      if (err instanceof InvalidRequest) throw new InvalidRequest(err.code, err.field, err.problem, i, ops.length);
      throw err;
    }
  }
}
