import { createHash } from 'node:crypto';
import { ZkError } from '../errors.js';
import { ErrorCode, Perms } from '../protocol/constants.js';
import type { ACL, Id } from '../protocol/records.js';
import { dnProblem } from '../protocol/validate.js';

export const openAclUnsafe: readonly ACL[] = Object.freeze([{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }]);
export const readAclUnsafe: readonly ACL[] = Object.freeze([{ perms: Perms.READ, id: { scheme: 'world', id: 'anyone' } }]);

/** The digest id for "user:password": user:base64(sha1("user:password")). */
export function digestId(userPassword: string): string {
  const user = userPassword.split(':', 1)[0]!;
  const hash = createHash('sha1').update(userPassword, 'utf8').digest('base64');
  return `${user}:${hash}`;
}

/** Parses "a.b.c.d" or "a.b.c.d/bits" (IPv4) or an IPv6 literal into bytes and a prefix length. */
function parseIpPattern(pattern: string): { bytes: number[]; bits: number } | null {
  const [addr, bitsText] = pattern.split('/', 2);
  const bytes = ipBytes(addr!);
  if (bytes === null) return null;
  const bits = bitsText === undefined ? bytes.length * 8 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) return null;
  return { bytes, bits };
}

function ipBytes(addr: string): number[] | null {
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  const parts = v4.split('.');
  if (parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return parts.map(Number);
  if (!addr.includes(':')) return null;
  const [head, tail] = addr.split('::', 2);
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...new Array(Math.max(fill, 0)).fill('0'), ...t];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

export function ipMatches(pattern: string, address: string): boolean {
  const p = parseIpPattern(pattern);
  const a = ipBytes(address);
  if (p === null || a === null || a.length !== p.bytes.length) return false;
  for (let bit = 0; bit < p.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((p.bytes[bit >> 3]! & mask) !== (a[bit >> 3]! & mask)) return false;
  }
  return true;
}

function schemeMatches(acl: Id, caller: Id): boolean {
  if (acl.scheme !== caller.scheme) return false;
  if (acl.scheme === 'ip') return ipMatches(acl.id, caller.id);
  return acl.id === caller.id;
}

/** ZooKeeper's check rule (docs/protocol.md 9.4). */
export function aclPermits(acl: readonly ACL[], perm: number, authIds: readonly Id[]): boolean {
  if (acl.length === 0) return true;
  // Index loops rather than some() or for-of: this runs for every write, and the profile showed
  // an iterator allocated per loop here.
  for (let i = 0; i < authIds.length; i++) if (authIds[i]!.scheme === 'super') return true;
  for (let e = 0; e < acl.length; e++) {
    const entry = acl[e]!;
    if ((entry.perms & perm) === 0) continue;
    if (entry.id.scheme === 'world' && entry.id.id === 'anyone') return true;
    for (let i = 0; i < authIds.length; i++) if (schemeMatches(entry.id, authIds[i]!)) return true;
  }
  return false;
}

export function checkAcl(acl: readonly ACL[], perm: number, authIds: readonly Id[]): void {
  if (!aclPermits(acl, perm, authIds)) throw new ZkError(ErrorCode.NOAUTH);
}

/**
 * The id rules a txn is applied under. Looser than the request rules (protocol/validate.ts),
 * on purpose: a log replays through these, so a txn that applied under them once must apply
 * the same way again; new requests never get here unless the validator took them.
 */
function validId(id: Id): boolean {
  switch (id.scheme) {
    case 'x509':
      return dnProblem(id.id) === null;
    case 'world':
      return id.id === 'anyone';
    case 'digest':
      return id.id.split(':').length === 2;
    case 'ip':
      return parseIpPattern(id.id) !== null;
    case 'super':
      return true;
    default:
      return false;
  }
}

/**
 * Validates an ACL list for create/setACL and expands the `auth` pseudo scheme into the
 * caller's authenticated ids. Duplicates are removed. Throws INVALIDACL.
 */
export function fixupAcl(acl: readonly ACL[] | null, authIds: readonly Id[]): readonly ACL[] {
  if (acl === null || acl.length === 0) throw new ZkError(ErrorCode.INVALIDACL, 'ACL list is empty');
  // The common case, world:anyone with all perms, costs nothing.
  if (acl.length === 1 && acl[0]!.perms === Perms.ALL && acl[0]!.id?.scheme === 'world' && acl[0]!.id.id === 'anyone') return openAclUnsafe;
  const out: ACL[] = [];
  const seen = new Set<string>();
  const push = (entry: ACL) => {
    const key = `${entry.perms}|${entry.id.scheme}|${entry.id.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ perms: entry.perms, id: { scheme: entry.id.scheme, id: entry.id.id } });
  };
  for (const entry of acl) {
    if (entry.id === null || entry.id.scheme === null) throw new ZkError(ErrorCode.INVALIDACL);
    if (entry.id.scheme === 'auth') {
      const authenticated = authIds.filter((id) => id.scheme !== 'ip' && id.scheme !== 'world' && id.scheme !== 'super');
      if (authenticated.length === 0) throw new ZkError(ErrorCode.INVALIDACL, 'auth scheme used without an authenticated id');
      for (const id of authenticated) push({ perms: entry.perms, id });
      continue;
    }
    if (entry.id.id === null || !validId(entry.id)) throw new ZkError(ErrorCode.INVALIDACL, `invalid ACL id ${entry.id.scheme}:${entry.id.id}`);
    push(entry);
  }
  return out;
}
