import type { ACL } from '../protocol/records.js';

function sameAcl(a: readonly ACL[], b: readonly ACL[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.perms !== y.perms || x.id.scheme !== y.id.scheme || x.id.id !== y.id.id) return false;
  }
  return true;
}

/** The distinct ACL lists of a tree, each once; nodes hold an index. Never shrinks. */
export class AclTable {
  private readonly lists: (readonly ACL[])[] = [];
  private readonly byKey = new Map<string, number>();
  private last = -1;

  get count(): number {
    return this.lists.length;
  }

  /** The list at an index intern gave out. */
  get(index: number): readonly ACL[] {
    return this.lists[index]!;
  }

  /** The index of an ACL list, adding it once. */
  intern(acl: readonly ACL[]): number {
    // Most creates carry the same ACL as the previous one (a fresh array from the wire).
    if (this.last >= 0 && sameAcl(acl, this.lists[this.last]!)) return this.last;
    this.last = this.internByKey(acl);
    return this.last;
  }

  private internByKey(acl: readonly ACL[]): number {
    let key = '';
    for (const a of acl) key += `${a.perms},${a.id.scheme},${a.id.id};`;
    let index = this.byKey.get(key);
    if (index === undefined) {
      index = this.lists.length;
      this.lists.push(Object.freeze(acl.map((a) => Object.freeze({ perms: a.perms, id: Object.freeze({ ...a.id }) }))));
      this.byKey.set(key, index);
    }
    return index;
  }
}
