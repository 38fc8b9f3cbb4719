import { isElectionMessage, type PeerMessage } from '../messages.js';
import type { Prng } from './prng.js';

export type NetworkItem = { readonly kind: 'message'; readonly msg: PeerMessage } | { readonly kind: 'disconnected' };

export interface Delivery {
  readonly from: number;
  readonly to: number;
  readonly item: NetworkItem;
  /** Connection generation for FIFO links; a reset makes older deliveries void. */
  readonly generation: number;
  readonly fifo: boolean;
}

/** Fault knobs, drawn per seed. Delays are in simulator time units. */
export interface NetworkFaults {
  delayMin: number;
  delayMax: number;
  /** Chance a message is slow (delayMax × slowFactor at most). */
  slowChance: number;
  slowFactor: number;
  electionDropChance: number;
  electionDuplicateChance: number;
}

interface Link {
  generation: number;
  lastDelivery: number;
  held: NetworkItem[];
}

/**
 * The virtual network. Election notifications travel as datagrams: dropped, duplicated,
 * reordered at will. ZAB traffic rides a FIFO link per ordered pair, like TCP: a partition
 * holds it back (retransmission) until healed; a reset (fault, crash, or a role closing the
 * link) voids what is in flight and tells the other side with a `disconnected` item queued
 * in order on the new connection.
 */
export class VirtualNetwork {
  private readonly links = new Map<number, Link>();
  private readonly group = new Map<number, number>();

  constructor(
    private readonly prng: Prng,
    public faults: NetworkFaults,
    private readonly schedule: (time: number, delivery: Delivery) => void,
  ) {}

  partition(groups: readonly (readonly number[])[]): void {
    this.group.clear();
    groups.forEach((members, index) => members.forEach((sid) => this.group.set(sid, index)));
  }

  get partitioned(): boolean {
    return this.group.size > 0;
  }

  isolated(a: number, b: number): boolean {
    if (this.group.size === 0) return false;
    return (this.group.get(a) ?? -1) !== (this.group.get(b) ?? -1);
  }

  heal(now: number): void {
    this.group.clear();
    for (const [key, link] of this.links) {
      const held = link.held;
      link.held = [];
      for (const item of held) this.scheduleFifo(now, key >> 8, key & 0xff, link, item);
    }
  }

  send(now: number, from: number, to: number, msg: PeerMessage): void {
    if (isElectionMessage(msg)) return this.sendDatagram(now, from, to, msg);
    this.sendFifo(now, from, to, { kind: 'message', msg });
  }

  /** Breaks the pair's connection; `notify` lists the endpoints to tell. */
  reset(now: number, a: number, b: number, notify: readonly number[]): void {
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const link = this.link(from, to);
      link.generation++;
      link.held = [];
      link.lastDelivery = now;
    }
    for (const sid of notify) {
      const other = sid === a ? b : a;
      this.sendFifo(now, other, sid, { kind: 'disconnected' });
    }
  }

  isCurrent(delivery: Delivery): boolean {
    return !delivery.fifo || this.link(delivery.from, delivery.to).generation === delivery.generation;
  }

  private sendDatagram(now: number, from: number, to: number, msg: PeerMessage): void {
    if (this.isolated(from, to) || this.prng.chance(this.faults.electionDropChance)) return;
    const copies = this.prng.chance(this.faults.electionDuplicateChance) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.schedule(now + this.delay(), { from, to, item: { kind: 'message', msg }, generation: 0, fifo: false });
    }
  }

  private sendFifo(now: number, from: number, to: number, item: NetworkItem): void {
    const link = this.link(from, to);
    if (this.isolated(from, to)) {
      link.held.push(item);
      return;
    }
    this.scheduleFifo(now, from, to, link, item);
  }

  private scheduleFifo(now: number, from: number, to: number, link: Link, item: NetworkItem): void {
    const time = Math.max(link.lastDelivery, now + this.delay());
    link.lastDelivery = time;
    this.schedule(time, { from, to, item, generation: link.generation, fifo: true });
  }

  private delay(): number {
    const f = this.faults;
    const base = this.prng.range(f.delayMin, f.delayMax);
    return this.prng.chance(f.slowChance) ? base + this.prng.range(0, f.delayMax * f.slowFactor) : base;
  }

  private link(from: number, to: number): Link {
    const key = (from << 8) | to;
    let link = this.links.get(key);
    if (link === undefined) {
      link = { generation: 0, lastDelivery: 0, held: [] };
      this.links.set(key, link);
    }
    return link;
  }
}
