// Faults between ensemble members, applied inside each member's peer transport (its
// PeerFaultHook). The rules are plain data, so that a launcher can send them to a member process
// over its control channel; every member gets the same rules and applies the part that concerns
// it. Nothing here decides what to break: callers do.
import type { PeerMessage } from '../quorum/messages.js';
import type { PeerFaultHook } from '../quorum/peer-options.js';
import { Prng } from '../quorum/sim/prng.js';

/** One end of a link: a member id, or every member. */
export type LinkEnd = number | '*';

/**
 * A rule about the messages from `from` to `to`:
 * - `cut`: nothing arrives. The receiver holds what comes in (the connection stays open, as
 *   over a partitioned network, so both sides see silence, not a close); once the cut is
 *   removed the held messages are delivered in order, as TCP would after the network heals,
 *   unless their connection was closed meanwhile.
 * - `drop`: each message is lost with `percent` probability, decided once by the sender. A
 *   stream cannot skip a message, so the transport also closes that connection (the peers
 *   reconnect and the protocol recovers, as after a reset).
 * - `delay`: each message is delivered `ms` after it was received, in order.
 * When several rules match a message, a cut wins, then the largest percent and the largest delay.
 */
export type PeerFaultRule =
  | { readonly kind: 'cut'; readonly from: LinkEnd; readonly to: LinkEnd }
  | { readonly kind: 'drop'; readonly from: LinkEnd; readonly to: LinkEnd; readonly percent: number }
  | { readonly kind: 'delay'; readonly from: LinkEnd; readonly to: LinkEnd; readonly ms: number };

/** Messages held for one sender; beyond this the connection is dropped, as a full TCP window would end it. */
export const heldMessagesMax = 10_000;
/** The longest delay a rule may ask for. */
export const peerDelayMsMax = 600_000;

/** The rules that cut every member of one group off from every member of the others. */
export function partitionRules(groups: readonly (readonly number[])[]): PeerFaultRule[] {
  const rules: PeerFaultRule[] = [];
  for (const [i, group] of groups.entries()) {
    for (const [j, other] of groups.entries()) {
      if (i === j) continue;
      for (const from of group) for (const to of other) rules.push({ kind: 'cut', from, to });
    }
  }
  return rules;
}

/** The rules that cut one member off from every other, both ways. */
export function isolationRules(id: number): PeerFaultRule[] {
  return [
    { kind: 'cut', from: id, to: '*' },
    { kind: 'cut', from: '*', to: id },
  ];
}

function isLinkEnd(value: unknown): value is LinkEnd {
  return value === '*' || (typeof value === 'number' && Number.isInteger(value) && value >= 0);
}

/** Checks rules that arrived as data (over a control channel); throws naming what is wrong. */
export function validatePeerFaultRules(value: unknown): PeerFaultRule[] {
  if (!Array.isArray(value)) throw new TypeError('peer fault rules must be an array');
  return value.map((rule: unknown, i): PeerFaultRule => {
    const r = rule as Record<string, unknown> | null;
    if (r === null || typeof r !== 'object') throw new TypeError(`peer fault rule ${i} is not an object`);
    if (!isLinkEnd(r.from) || !isLinkEnd(r.to)) throw new TypeError(`peer fault rule ${i}: from and to must be member ids or '*'`);
    switch (r.kind) {
      case 'cut':
        return { kind: 'cut', from: r.from, to: r.to };
      case 'drop':
        if (typeof r.percent !== 'number' || !(r.percent >= 0 && r.percent <= 100)) throw new RangeError(`peer fault rule ${i}: percent must be 0 to 100`);
        return { kind: 'drop', from: r.from, to: r.to, percent: r.percent };
      case 'delay':
        if (typeof r.ms !== 'number' || !(r.ms >= 0 && r.ms <= peerDelayMsMax)) throw new RangeError(`peer fault rule ${i}: ms must be 0 to ${peerDelayMsMax}`);
        return { kind: 'delay', from: r.from, to: r.to, ms: r.ms };
      default:
        throw new TypeError(`peer fault rule ${i}: unknown kind ${JSON.stringify(r.kind)}`);
    }
  });
}

function matches(rule: PeerFaultRule, from: number, to: number): boolean {
  return (rule.from === '*' || rule.from === from) && (rule.to === '*' || rule.to === to);
}

interface Held {
  receivedAt: number;
  deliver: () => void;
}

/**
 * The peer fault hook of one member. Drops are drawn by the sender from a seeded generator
 * (a seed replays the same choices for the same traffic); cuts and delays are applied by the
 * receiver, which holds messages per sender and releases them in order.
 */
export class PeerFaults implements PeerFaultHook {
  private rules: readonly PeerFaultRule[] = [];
  private readonly prng: Prng;
  private readonly held = new Map<number, Held[]>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  /** Messages this member lost by a drop rule (as the sender). */
  dropped = 0;

  constructor(
    readonly self: number,
    readonly seed: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.prng = new Prng(seed);
  }

  get currentRules(): readonly PeerFaultRule[] {
    return this.rules;
  }

  /** Replaces every rule; held messages that the new rules let through are delivered now. */
  update(rules: readonly PeerFaultRule[]): void {
    this.rules = validatePeerFaultRules(rules);
    for (const from of [...this.held.keys()]) this.release(from);
  }

  allow(from: number, to: number, _msg: PeerMessage): boolean {
    if (from === this.self) {
      const percent = this.largest(from, to, 'drop');
      if (percent > 0 && this.prng.float() * 100 < percent) {
        this.dropped++;
        return false;
      }
      return true;
    }
    return (this.held.get(from)?.length ?? 0) < heldMessagesMax;
  }

  hold(from: number, to: number, _msg: PeerMessage, deliver: () => void): boolean {
    if (to !== this.self) return false;
    const queue = this.held.get(from);
    if ((queue === undefined || queue.length === 0) && this.waitMs(from) === 0) return false;
    const entry: Held = { receivedAt: this.now(), deliver };
    if (queue === undefined) this.held.set(from, [entry]);
    else queue.push(entry);
    this.release(from);
    return true;
  }

  /** Messages held right now, per sender. */
  heldCounts(): Map<number, number> {
    return new Map([...this.held].map(([from, queue]) => [from, queue.length]));
  }

  /** Forgets every held message and timer (the member is stopping). */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.held.clear();
  }

  /** How long a message from `from` waits here under the current rules (Infinity: cut). */
  private waitMs(from: number): number {
    for (const rule of this.rules) if (rule.kind === 'cut' && matches(rule, from, this.self)) return Infinity;
    return this.largest(from, this.self, 'delay');
  }

  private largest(from: number, to: number, kind: 'drop' | 'delay'): number {
    let value = 0;
    if (from === to) return 0;
    for (const rule of this.rules) {
      if (!matches(rule, from, to)) continue;
      if (kind === 'drop' && rule.kind === 'drop') value = Math.max(value, rule.percent);
      if (kind === 'delay' && rule.kind === 'delay') value = Math.max(value, rule.ms);
    }
    return value;
  }

  /** Delivers the messages from `from` that are due, in order; sets a timer for the next one. */
  private release(from: number): void {
    const existing = this.timers.get(from);
    if (existing !== undefined) clearTimeout(existing);
    this.timers.delete(from);
    const queue = this.held.get(from);
    if (queue === undefined) return;
    const wait = this.waitMs(from);
    while (queue.length > 0) {
      const due = queue[0]!.receivedAt + wait;
      const now = this.now();
      if (due > now) {
        if (Number.isFinite(due)) {
          const timer = setTimeout(() => this.release(from), Math.ceil(due - now));
          timer.unref();
          this.timers.set(from, timer);
        }
        return;
      }
      queue.shift()!.deliver();
    }
    this.held.delete(from);
  }
}
