import { invariant } from '../errors.js';

/** Who votes and who only observes. Sids are small positive integers, as in zoo.cfg server.N. */
export interface QuorumView {
  readonly voters: readonly number[];
  readonly observers: readonly number[];
}

export function makeQuorumView(voters: readonly number[], observers: readonly number[] = []): QuorumView {
  invariant(voters.length > 0, 'a quorum needs at least one voter');
  const all = [...voters, ...observers];
  invariant(new Set(all).size === all.length, 'a sid is listed twice in the quorum view');
  for (const sid of all) invariant(Number.isInteger(sid) && sid > 0, `bad sid ${sid}`);
  return Object.freeze({
    voters: Object.freeze([...voters].sort((a, b) => a - b)),
    observers: Object.freeze([...observers].sort((a, b) => a - b)),
  });
}

export function isVoter(view: QuorumView, sid: number): boolean {
  return view.voters.includes(sid);
}

export function isObserver(view: QuorumView, sid: number): boolean {
  return view.observers.includes(sid);
}

export function isMember(view: QuorumView, sid: number): boolean {
  return isVoter(view, sid) || isObserver(view, sid);
}

/** A quorum is a strict majority of the voters; observers never count. */
export function quorumSize(view: QuorumView): number {
  return Math.floor(view.voters.length / 2) + 1;
}

/** Counts only voters in `sids`, so callers may pass any set of peers. */
export function isQuorum(view: QuorumView, sids: Iterable<number>): boolean {
  // No Set: the leader asks this on every turn of its event loop, with a handful of sids.
  const list = Array.isArray(sids) ? (sids as readonly number[]) : [...sids];
  let count = 0;
  for (let i = 0; i < list.length; i++) {
    const sid = list[i]!;
    if (list.indexOf(sid) === i && isVoter(view, sid)) count++;
  }
  return count >= quorumSize(view);
}

/** Every member except `self`: whom to send to. */
export function otherMembers(view: QuorumView, self: number): number[] {
  return [...view.voters, ...view.observers].filter((sid) => sid !== self);
}
