import { isolationRules, partitionRules, validatePeerFaultRules, type PeerFaultRule } from '../faults/peer-faults.js';
import type { LinkSelector } from './cluster.js';
import { memberById, type Member } from './member.js';

/**
 * The faults a TestingCluster puts between its members: the peer fault rules every running
 * member applies (its members read `rules` when they start), and the client proxies' toxics.
 */
export class ClusterFaults {
  rules: readonly PeerFaultRule[] = [];

  constructor(private readonly members: readonly Member[]) {}

  /** Replaces every peer fault rule; resolves once every running member applied them. */
  async set(rules: readonly PeerFaultRule[]): Promise<void> {
    this.rules = validatePeerFaultRules(rules);
    await Promise.all(this.members.map((m) => m.process.sendPeerFaults(this.rules)));
  }

  async isolate(id: number): Promise<void> {
    memberById(this.members, id).proxy.blackhole();
    await this.set([...this.rules, ...isolationRules(id)]);
  }

  async partition(groups: readonly (readonly number[])[]): Promise<void> {
    const listed = groups.flat();
    for (const m of this.members) {
      const times = listed.filter((id) => id === m.id).length;
      if (times !== 1) throw new RangeError(`every member must be in exactly one group; server ${m.id} is in ${times}`);
    }
    if (listed.length !== this.members.length) throw new RangeError(`the groups name servers that do not exist: ${listed.filter((id) => !this.members.some((m) => m.id === id)).join(', ')}`);
    await this.set([...this.rules, ...partitionRules(groups)]);
  }

  async oneWay(from: number, to: number): Promise<void> {
    memberById(this.members, from);
    memberById(this.members, to);
    await this.set([...this.rules, { kind: 'cut', from, to }]);
  }

  async drop(percent: number, link: LinkSelector): Promise<void> {
    await this.set([...this.rules, { kind: 'drop', from: link.from ?? '*', to: link.to ?? '*', percent }]);
  }

  async delay(ms: number, link: LinkSelector): Promise<void> {
    await this.set([...this.rules, { kind: 'delay', from: link.from ?? '*', to: link.to ?? '*', ms }]);
  }

  async heal(): Promise<void> {
    for (const m of this.members) m.proxy.heal();
    await this.set([]);
  }
}
