import type { PeerSpec, ServerConfig } from '../config/config.js';
import { invariant } from '../errors.js';
import type { LogEntry, QuorumLimits } from '../quorum/index.js';
import { QuorumPeer, defaultQuorumLimits, makeQuorumView } from '../quorum/index.js';
import { TreePayloads } from './peer-payloads.js';
import type { EnsembleRecovery } from './persistence.js';

/** The longest core tick: finalize waits and notification resends are counted in these. */
export const coreTickMsMax = 20;

export interface MemberCore {
  peer: QuorumPeer;
  /** This member's server.N line. */
  me: PeerSpec;
  /** Ms between core ticks. */
  coreTickMs: number;
  /** The tree's check of peers' payloads; what it decoded is what the driver applies or installs. */
  payloads: TreePayloads;
}

/**
 * The consensus core for this member, from zoo.cfg and what was recovered. Election and
 * failover run on the core's clock: a fine one (about coreTickMsMax) lets a new leader be
 * decided and serving within a few tens of ms, whatever tickTime is; initLimit and syncLimit
 * are converted to core ticks.
 */
export function memberCore(config: ServerConfig, serverId: number, recovery: EnsembleRecovery, ticksPerTick?: number): MemberCore {
  const me = config.servers.find((p) => p.sid === serverId);
  invariant(me !== undefined, `server.${serverId} is not configured`);
  const perTick = ticksPerTick ?? Math.max(10, Math.round(config.tickTime / coreTickMsMax));
  const coreTickMs = Math.max(1, Math.floor(config.tickTime / perTick));
  const limits: QuorumLimits = {
    ...defaultQuorumLimits,
    initLimitTicks: config.initLimit * perTick,
    syncLimitTicks: config.syncLimit * perTick,
    pingIntervalTicks: Math.max(1, Math.floor(perTick / 2)),
    tickMs: coreTickMs,
    sessionBucketTicks: perTick,
  };
  const voters = config.servers.filter((p) => p.role === 'participant').map((p) => p.sid);
  const observers = config.servers.filter((p) => p.role === 'observer').map((p) => p.sid);
  const recovered = {
    acceptedEpoch: recovery.acceptedEpoch,
    currentEpoch: recovery.currentEpoch,
    snapshotZxid: recovery.tree.lastZxid,
    log: recovery.log.map((e): LogEntry => ({ zxid: e.zxid, payload: e.payload, origin: null })),
  };
  const payloads = new TreePayloads({ extendedTypesEnabled: config.extendedTypesEnabled });
  const peer = new QuorumPeer({ self: serverId, view: makeQuorumView(voters, observers), limits, payloads }, recovered);
  return { peer, me, coreTickMs, payloads };
}
