// Regression test (fixed in peer.ts: hellos that reach a LOOKING server are kept until it decides).
// Deterministic repro of a stall the real-process failover test hits now and then: after the
// leader dies, the two survivors agree on a new leader, but the follower decides a moment
// before the leader does. Its FOLLOWERINFO reaches a server that is still LOOKING, which
// refuses the link (peer.ts: "We do not lead: refuse the link"); the follower steps down into a
// new election round (electionEpoch + 1), the leader's "I am LEADING" answers carry the old
// round and count only as out-of-election votes (one of three: no quorum), so the follower
// never joins and the leader gives up after initLimit. Then the race repeats. In a real
// three-process ensemble we saw this cycle for up to ~15 s (initLimit = 1 s per cycle).
//
// Wiring only the pure core (QuorumPeer.step) with an instant, lossless network and an
// instant disk: nothing here is timing-dependent.
import { describe, expect, it } from 'vitest';
import type { QuorumEffect, QuorumEvent } from '../../src/quorum/index.js';
import { QuorumPeer, defaultQuorumLimits, makeQuorumView } from '../../src/quorum/index.js';

const limits = { ...defaultQuorumLimits, initLimitTicks: 100, syncLimitTicks: 50, pingIntervalTicks: 5, finalizeWaitTicks: 2 };

interface Node {
  peer: QuorumPeer;
  role: string;
  serving: boolean;
  leader: number | null;
}

class Net {
  readonly nodes = new Map<number, Node>();
  private readonly queue: { to: number; event: QuorumEvent }[] = [];

  constructor(alive: number[], voters: number[]) {
    const view = makeQuorumView(voters, []);
    for (const sid of alive) this.nodes.set(sid, { peer: new QuorumPeer({ self: sid, view, limits }), role: 'looking', serving: false, leader: null });
  }

  deliver(to: number, event: QuorumEvent): void {
    const node = this.nodes.get(to);
    if (node === undefined) return;
    for (const effect of node.peer.step(event)) this.perform(to, node, effect);
  }

  private perform(self: number, node: Node, effect: QuorumEffect): void {
    switch (effect.kind) {
      case 'send':
        this.queue.push({ to: effect.to, event: { kind: 'message', from: self, msg: effect.msg } });
        return;
      case 'disconnect':
        // The transport closes the TCP connection: both ends hear about it.
        this.queue.push({ to: self, event: { kind: 'disconnected', peer: effect.peer } });
        this.queue.push({ to: effect.peer, event: { kind: 'disconnected', peer: self } });
        return;
      case 'persistTxns': {
        const last = effect.entries.at(-1);
        if (last !== undefined) this.queue.push({ to: self, event: { kind: 'durable', zxid: last.zxid } });
        return;
      }
      case 'roleChanged':
        node.role = effect.role;
        node.serving = effect.serving;
        node.leader = effect.leader;
        return;
      default:
        return;
    }
  }

  /** Delivers queued events until none are left, except those `hold` keeps back (returned). */
  flush(hold: (to: number, event: QuorumEvent) => boolean = () => false): { to: number; event: QuorumEvent }[] {
    const held: { to: number; event: QuorumEvent }[] = [];
    while (this.queue.length > 0) {
      const item = this.queue.shift()!;
      if (hold(item.to, item.event)) held.push(item);
      else this.deliver(item.to, item.event);
    }
    return held;
  }

  tick(sids: number[]): void {
    for (const sid of sids) this.deliver(sid, { kind: 'tick' });
  }
}

describe('election after a leader dies, when the follower decides first', () => {
  it('the two survivors establish a leader within initLimit', () => {
    // Server 2 (the old leader) is dead; 1 and 3 are fresh and LOOKING; 3 wins on sid.
    const net = new Net([1, 3], [1, 2, 3]);
    net.deliver(1, { kind: 'start' });
    net.deliver(3, { kind: 'start' });
    net.flush();
    // Server 1's finalize wait runs out first (its timer fired a little earlier).
    net.tick([1]);
    net.tick([1]);
    expect(net.nodes.get(1)!.role).toBe('following');
    expect(net.nodes.get(3)!.role).toBe('looking');
    // Its FOLLOWERINFO reaches 3 while 3 is still LOOKING. It used to be refused, which sent 1
    // into round 2 that 3's answers never counted for; now 3 keeps the hello until it decides,
    // so 1 stays a follower. Server 3's own finalize wait runs out before any later
    // notification arrives (it is a few ms behind on a real network), so 3 leads in round 1.
    const held = net.flush((to, event) => to === 3 && event.kind === 'message' && event.msg.type === 'notification');
    expect(net.nodes.get(1)!.role).toBe('following');
    net.tick([3]);
    net.tick([3]);
    expect(net.nodes.get(3)!.role).toBe('leading');
    for (const item of held) net.deliver(item.to, item.event);
    net.flush();
    // From here on both tick in lockstep, with every message delivered at once.
    let establishedAt: number | null = null;
    for (let tick = 0; tick < limits.initLimitTicks * 3 && establishedAt === null; tick++) {
      net.tick([1, 3]);
      net.flush();
      const [one, three] = [net.nodes.get(1)!, net.nodes.get(3)!];
      if (three.role === 'leading' && three.serving && one.role === 'following' && one.serving) establishedAt = tick;
    }
    expect(establishedAt, 'ticks until 3 leads and 1 follows, both serving').not.toBeNull();
    expect(establishedAt!).toBeLessThan(limits.initLimitTicks);
  });
});
