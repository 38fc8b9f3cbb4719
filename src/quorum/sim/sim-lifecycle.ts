import { QuorumPeer } from '../peer.js';
import type { QuorumLimits } from '../limits.js';
import type { QuorumView } from '../quorum-view.js';
import { VirtualDisk } from './disk.js';
import { HashChainMachine, hashChainPayloads } from './hash-chain.js';
import type { VirtualNetwork } from './network.js';
import type { Prng } from './prng.js';
import type { SimOracle } from './sim-oracle.js';
import type { SimSessions } from './sim-sessions.js';
import type { SimShell } from './sim-shell.js';
import type { SimNode, SimStats } from './sim-types.js';

/** What a server's life in the simulator reaches. */
export interface LifecycleHost {
  readonly prng: Prng;
  readonly view: QuorumView;
  readonly limits: QuorumLimits;
  readonly now: number;
  readonly tickCount: number;
  readonly nodes: ReadonlyMap<number, SimNode>;
  readonly network: VirtualNetwork;
  readonly stats: SimStats;
  readonly sessions: SimSessions;
  readonly oracle: SimOracle;
  node(sid: number): SimNode;
  log(line: string): void;
}

/**
 * The simulated servers' processes: a new one on an empty disk, a crash (what its disk keeps
 * of what was not yet synced), a restart from its disk, a pause, a stalled fsync.
 */
export class SimLifecycle {
  constructor(
    private readonly host: LifecycleHost,
    private readonly shell: SimShell,
  ) {}

  createNode(sid: number, voter: boolean): SimNode {
    const disk = new VirtualDisk();
    return {
      sid,
      voter,
      up: true,
      incarnation: 0,
      pausedUntilTick: 0,
      backlog: [],
      disk,
      sm: new HashChainMachine(),
      peer: this.newPeer(sid, disk),
      fsyncStalled: false,
      pending: new Map(),
      coreEvents: [],
      snapshotsInstalled: 0,
      truncations: 0,
    };
  }

  crash(sid: number, keepUnsynced: boolean | 'random'): void {
    const { host } = this;
    const node = host.node(sid);
    if (!node.up) return;
    host.stats.crashes++;
    host.log(`crash ${sid}`);
    node.up = false;
    node.incarnation++;
    node.backlog = [];
    node.pausedUntilTick = 0;
    node.coreEvents = [];
    host.sessions.crashed(sid);
    // A stalled fsync belongs to the dead process; the restarted one gets a working disk.
    node.fsyncStalled = false;
    if (keepUnsynced === 'random') node.disk.crash((n) => host.prng.int(n + 1));
    else node.disk.crash((n) => (keepUnsynced ? n : 0));
    this.shell.failPending(node);
    for (const other of host.nodes.keys()) {
      // A process crash usually resets its TCP links at once; a machine crash does not.
      if (other !== sid) host.network.reset(host.now, sid, other, host.prng.chance(0.5) ? [other] : []);
    }
  }

  restart(sid: number): void {
    const node = this.host.node(sid);
    if (node.up) return;
    this.host.log(`restart ${sid}`);
    const sm = new HashChainMachine();
    if (node.disk.snapshot !== null) {
      sm.restore(node.disk.snapshot.zxid, node.disk.snapshot.data);
      this.host.oracle.checkAgainstCanon(node.sid, sm, 'restored snapshot');
    }
    node.sm = sm;
    node.peer = this.newPeer(sid, node.disk);
    node.up = true;
    this.host.sessions.unsettle([sid]);
    this.shell.feed(node, { kind: 'sessionTable', sessions: sm.sessions() });
    this.shell.feed(node, { kind: 'start' });
  }

  pause(sid: number, ticks: number): void {
    const node = this.host.node(sid);
    if (!node.up) return;
    this.host.stats.pauses++;
    this.host.log(`pause ${sid} for ${ticks}`);
    node.pausedUntilTick = this.host.tickCount + ticks;
    this.host.sessions.unsettle([sid]);
  }

  stallFsync(sid: number, stalled: boolean): void {
    const node = this.host.node(sid);
    node.fsyncStalled = stalled;
    if (!stalled) this.shell.maybeStartFsync(node);
  }

  private newPeer(sid: number, disk: VirtualDisk): QuorumPeer {
    return new QuorumPeer({ self: sid, view: this.host.view, limits: this.host.limits, payloads: hashChainPayloads }, disk.recover());
  }
}
