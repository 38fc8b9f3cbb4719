import { containerOwnerMarker } from '../protocol/constants.js';
import { isTtlOwner } from './znode.js';

export interface SessionEntry {
  timeout: number;
}

/**
 * The session table and what nodes with an owner are indexed by: each session's ephemerals,
 * the containers and the TTL nodes (by path, for closeSession and the reaper).
 */
export class NodeOwners {
  readonly sessions = new Map<bigint, SessionEntry>();
  readonly ephemerals = new Map<bigint, Set<string>>();
  readonly containers = new Set<string>();
  readonly ttlNodes = new Set<string>();

  track(path: string, owner: bigint): void {
    if (owner === 0n) return;
    if (owner === containerOwnerMarker) this.containers.add(path);
    else if (isTtlOwner(owner)) this.ttlNodes.add(path);
    else {
      let set = this.ephemerals.get(owner);
      if (set === undefined) this.ephemerals.set(owner, (set = new Set()));
      set.add(path);
    }
  }

  untrack(path: string, owner: bigint): void {
    if (owner === 0n) return;
    if (owner === containerOwnerMarker) this.containers.delete(path);
    else if (isTtlOwner(owner)) this.ttlNodes.delete(path);
    else {
      const set = this.ephemerals.get(owner);
      set?.delete(path);
      if (set?.size === 0) this.ephemerals.delete(owner);
    }
  }

  /** Paths of the normal ephemerals of a session whose path starts with prefix. */
  ephemeralsOf(sessionId: bigint, prefix: string): string[] {
    const all = [...(this.ephemerals.get(sessionId) ?? [])];
    if (prefix === '' || prefix.trim() === '' || prefix === '/') return all;
    return all.filter((p) => p.startsWith(prefix));
  }

  /** A session's ephemerals in the order closing it deletes them: children before parents. */
  closingOrder(sessionId: bigint): string[] {
    return [...(this.ephemerals.get(sessionId) ?? [])].sort().reverse();
  }

  /** Forgets a closed session (its ephemerals have been removed). */
  endSession(sessionId: bigint): void {
    this.ephemerals.delete(sessionId);
    this.sessions.delete(sessionId);
  }
}
