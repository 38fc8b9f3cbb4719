import { ZkError } from '../errors.js';
import { Perms } from '../protocol/constants.js';
import type { ACL } from '../protocol/records.js';
import { fixupAcl } from './acl.js';
import type { NodeEdits } from './node-edits.js';
import type { NodeOwners } from './node-owners.js';
import { hashOfName } from './node-bytes.js';
import { rootSlot } from './node-columns.js';
import type { NodeStore } from './node-store.js';
import type { PlainCreate } from './txn-codec.js';
import { ephemeralSession } from './znode.js';

export type AclDecoder = (b: Buffer, start: number, end: number) => readonly ACL[] | null | undefined;

/** At most this many distinct ACLs' bytes are remembered (a log uses a handful). */
const replayAclsMax = 8;

/**
 * Recovery's fast path for the common txn of a log, a plain create: made straight from the
 * record's bytes (no path string, no txn object, no BigInts but the zxid), with the last
 * parent and the ACLs seen cached. Only the ordinary case qualifies; anything else is left to
 * a full replay, which gives the same result or error as when the txn was first applied.
 */
export class PlainCreateReplay {
  private parentBytes: Buffer = Buffer.alloc(0);
  private parentSlot = -1;
  private parentGeneration = -1;
  private readonly worldCreate = new Map<number, boolean>();
  private readonly acls: [Buffer, number][] = [];

  constructor(
    private readonly store: NodeStore,
    private readonly edits: NodeEdits,
    private readonly owners: NodeOwners,
  ) {}

  /**
   * Creates the node, or returns false with nothing changed when anything is not the
   * ordinary case (a non-ASCII or odd path, a parent missing or not open to world:anyone, a
   * node already there, an auth-scheme or bad ACL, a closed session). `decodeAcl` reads an
   * ACL's bytes the first time they are seen.
   */
  create(zxid: bigint, b: Buffer, c: PlainCreate, decodeAcl: AclDecoder): boolean {
    // The writer's session must still be open (as checkSession asks).
    if ((b.readInt32BE(c.sessionAt) !== 0 || b.readInt32BE(c.sessionAt + 4) !== 0) && !this.owners.sessions.has(b.readBigInt64BE(c.sessionAt))) return false;
    const { pathStart, pathEnd } = c;
    if (pathEnd - pathStart < 2 || b[pathStart] !== 47 || b[pathEnd - 1] === 47) return false;
    // Printable ASCII, no empty or relative names: a valid path, and its length in UTF-16
    // units is its length in bytes.
    let lastSlash = pathStart;
    for (let i = pathStart + 1; i <= pathEnd; i++) {
      const ch = i < pathEnd ? b[i]! : 47;
      if (ch === 47) {
        const n = i - lastSlash - 1;
        if (n === 0 || (b[lastSlash + 1] === 46 && (n === 1 || (n === 2 && b[lastSlash + 2] === 46)))) return false;
        if (i < pathEnd) lastSlash = i;
      } else if (ch < 0x20 || ch > 0x7e) return false;
    }
    const store = this.store;
    const parent = this.parentOf(b, pathStart, lastSlash);
    if (parent < 0 || !this.worldMayCreate(store.columns.acl[parent]!)) return false;
    if (ephemeralSession(store.columns.ownerOf(parent)) !== 0n) return false;
    const nameStart = lastSlash + 1;
    const nameHash = hashOfName(b, nameStart, pathEnd);
    if (store.findChildBytes(parent, b, nameStart, pathEnd - nameStart, nameHash) >= 0) return false;
    const acl = this.aclIndexOf(b, c.aclStart, c.aclEnd, decodeAcl);
    if (acl < 0) return false;
    const data = c.dataStart < 0 ? null : b.subarray(c.dataStart, c.dataEnd);
    this.edits.insertFromBytes(parent, b, nameStart, pathEnd, nameHash, data, acl, zxid, c.time, pathEnd - pathStart);
    return true;
  }

  /** The slot of the parent path bytes[start, end) (the root when empty), cached. */
  private parentOf(b: Buffer, start: number, end: number): number {
    if (end === start) return rootSlot;
    const cached = this.parentBytes;
    const n = end - start;
    if (cached.length === n && this.parentGeneration === this.store.generation && this.parentSlot >= 0) {
      let i = 0;
      while (i < n && cached[i] === b[start + i]) i++;
      if (i === n) return this.parentSlot;
    }
    const slot = this.store.lookupBytes(b, start, end);
    this.parentBytes = Buffer.from(b.subarray(start, end));
    this.parentSlot = slot;
    this.parentGeneration = this.store.generation;
    return slot;
  }

  /** Whether the ACL list at this index lets anyone create children. */
  private worldMayCreate(aclIndex: number): boolean {
    let known = this.worldCreate.get(aclIndex);
    if (known === undefined) {
      known = this.store.acls.get(aclIndex).some((a) => a.id.scheme === 'world' && a.id.id === 'anyone' && (a.perms & Perms.CREATE) !== 0);
      this.worldCreate.set(aclIndex, known);
    }
    return known;
  }

  /** The store's index of the ACL in bytes[start, end), or -1 (auth scheme, invalid). */
  private aclIndexOf(b: Buffer, start: number, end: number, decodeAcl: AclDecoder): number {
    const n = end - start;
    for (const [bytes, index] of this.acls) {
      if (bytes.length !== n) continue;
      let i = 0;
      while (i < n && bytes[i] === b[start + i]) i++;
      if (i === n) return index;
    }
    const acl = decodeAcl(b, start, end);
    // An auth-scheme ACL depends on the writer's ids; a bad one fails: both left to the full replay.
    if (acl === null || acl === undefined || acl.some((a) => a.id.scheme === 'auth')) return -1;
    let index: number;
    try {
      index = this.store.acls.intern(fixupAcl(acl, []));
    } catch (err) {
      if (err instanceof ZkError) return -1;
      throw err;
    }
    if (this.acls.length < replayAclsMax) this.acls.push([Buffer.from(b.subarray(start, end)), index]);
    return index;
  }
}
