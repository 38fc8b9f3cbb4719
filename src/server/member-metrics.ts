import type { PeerSpec, ServerConfig } from '../config/config.js';
import { LearnerPhase } from '../quorum/index.js';
import type { ConsensusDriver } from './consensus-driver.js';

/** mntr rows for an ensemble member's role (the leader adds its learners). */
export function memberMetrics(driver: ConsensusDriver, config: ServerConfig, serverId: number): [string, string | number][] {
  const rows: [string, string | number][] = [
    ['zk_peer_state', `${driver.role} - ${driver.serving ? 'broadcast' : 'not serving'}`],
    ['zk_leader_sid', driver.leader ?? -1],
    ['zk_quorum_epoch', String(driver.peer.currentEpoch)],
    ['zk_peer_frames_sent', driver.transport.framesSent],
    ['zk_peer_writes', driver.transport.peerWrites],
    ['zk_peer_frames_received', driver.transport.framesReceived],
  ];
  const leader = driver.peer.leaderRole;
  if (leader === null) return rows;
  const followers = config.servers.filter((p) => p.sid !== serverId && p.role === 'participant');
  const observers = config.servers.filter((p) => p.role === 'observer');
  const synced = (list: readonly PeerSpec[]) => list.filter((p) => leader.learnerPhase(p.sid) === LearnerPhase.upToDate).length;
  rows.push(['zk_learners', followers.length + observers.length]);
  rows.push(['zk_synced_followers', synced(followers)]);
  rows.push(['zk_synced_observers', synced(observers)]);
  rows.push(['zk_pending_syncs', driver.pendingSyncCount]);
  return rows;
}
