import type { QuorumEvent } from '../events.js';
import type { QuorumLimits } from '../limits.js';
import type { Prng } from './prng.js';
import { SimViolation } from './sim-oracle.js';
import type { SessionSimHost, SessionSimMember } from './sim-sessions.js';
import type { SimNode, WriteStatus } from './sim-types.js';

/** What the session clients read of the simulator and ask of it. */
export interface SessionHostSource {
  readonly prng: Prng;
  readonly tickCount: number;
  readonly limits: QuorumLimits;
  readonly nodes: ReadonlyMap<number, SimNode>;
  node(sid: number): SimNode;
  write(sid: number, key?: number, value?: number, afterStep?: boolean): number;
  writeStatus(writeId: number): WriteStatus;
  log(line: string): void;
}

/** The simulator as the session clients see it; `feed` hands a server's core an event. */
export function simSessionHost(sim: SessionHostSource, feed: (node: SimNode, event: QuorumEvent) => void): SessionSimHost {
  const view = (node: SimNode): SessionSimMember => ({
    sid: node.sid,
    up: node.up,
    paused: node.pausedUntilTick > sim.tickCount,
    serving: node.up && node.peer.isServing,
    leading: node.up && node.peer.roleName === 'leading',
    leader: node.peer.leaderSid,
    epoch: node.peer.epoch,
    sessionMode: node.peer.sessions.mode,
    isOpen: (sessionId) => node.sm.isOpen(sessionId),
  });
  return {
    prng: sim.prng,
    get tickCount() { return sim.tickCount; },
    tickMs: sim.limits.tickMs,
    members: () => [...sim.nodes.values()].map(view),
    member: (sid) => view(sim.node(sid)),
    feed: (sid, event) => feed(sim.node(sid), event),
    write: (sid, key, value, afterStep) => sim.write(sid, key, value, afterStep),
    writeStatus: (writeId) => sim.writeStatus(writeId),
    violation: (message) => { throw new SimViolation(message); },
    log: (line) => sim.log(line),
  };
}
