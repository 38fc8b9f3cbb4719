import type { ServerConfig } from '../config/config.js';
import { DataTree } from '../data/data-tree.js';
import type { Logger } from '../logger.js';
import type { PeerFaultHook } from '../quorum/peer-options.js';
import type { SessionAuthority } from '../session/session-authority.js';
import { SessionService } from '../session/session-service.js';
import { ApplyStage, replicatedSessions } from './apply-stage.js';
import { SoloCommitter, sessionWriter, volatileSink, type Committer, type FatalHandler, type TxnSink } from './committer.js';
import { ConsensusDriver } from './consensus-driver.js';
import { EnsembleSessionAuthority } from './ensemble-sessions.js';
import { LocalSessionAuthority } from './local-sessions.js';
import { memberCore } from './member-config.js';
import { ServerNode } from './node.js';
import type { EnsembleRecovery, MemberStorage } from './persistence.js';
import { ensembleReplication, standaloneReplication, type Replication } from './replication.js';

interface NodeParts {
  config: ServerConfig;
  log: Logger;
  serverId: number;
  apply: ApplyStage;
  committer: Committer;
  authority: (replicated: ReturnType<typeof replicatedSessions>) => SessionAuthority;
  replication: Replication;
  now: () => number;
  containerCheckIntervalMs?: number;
}

function compose(parts: NodeParts): ServerNode {
  const replicated = replicatedSessions(parts.apply);
  const sessions = new SessionService({
    serverId: parts.serverId,
    minTimeoutMs: parts.config.minSessionTimeout,
    maxTimeoutMs: parts.config.maxSessionTimeout,
    authority: parts.authority(replicated),
    replicated,
    writer: sessionWriter(parts.committer),
    log: parts.log,
    now: parts.now,
  });
  parts.apply.reportSessionsTo(sessions);
  return new ServerNode({ ...parts, sessions });
}

export interface StandaloneNodeOptions {
  config: ServerConfig;
  log: Logger;
  /** A failure the server cannot go on from (a failed fsync, a broken invariant). */
  onFatal: FatalHandler;
  /** The tree to start from (recovered from disk); a fresh one when omitted. */
  tree?: DataTree;
  /** Where txns become durable; omitted, writes are held in memory only. */
  sink?: TxnSink;
  containerCheckIntervalMs?: number;
  now?: () => number;
}

/** A standalone server: writes through the one-member path, sessions decided here. */
export function standaloneNode(options: StandaloneNodeOptions): ServerNode {
  const now = options.now ?? Date.now;
  const tree = options.tree ?? new DataTree({ extendedTypesEnabled: options.config.extendedTypesEnabled });
  const apply = new ApplyStage(tree, options.onFatal);
  const committer = new SoloCommitter(options.sink ?? volatileSink(), apply, options.onFatal, now);
  return compose({
    config: options.config,
    log: options.log,
    // A standalone server uses 1 in its session ids, as ZooKeeper does.
    serverId: 1,
    apply,
    committer,
    authority: (replicated) => new LocalSessionAuthority(options.config.tickTime, replicated, now),
    replication: standaloneReplication(committer),
    now,
    containerCheckIntervalMs: options.containerCheckIntervalMs,
  });
}

export interface EnsembleMemberOptions {
  config: ServerConfig;
  log: Logger;
  serverId: number;
  storage: MemberStorage;
  recovery: EnsembleRecovery;
  onFatal: FatalHandler;
  faults?: PeerFaultHook;
  /** Core ticks per tickTime: the core's clock runs this much finer than the session clock. */
  ticksPerTick?: number;
  containerCheckIntervalMs?: number;
  now?: () => number;
}

/** An ensemble member: writes through the consensus driver, sessions decided by the leader. */
export function ensembleMember(options: EnsembleMemberOptions): ServerNode {
  const now = options.now ?? Date.now;
  const { config, log, serverId } = options;
  const apply = new ApplyStage(options.recovery.tree, options.onFatal);
  const core = memberCore(config, serverId, options.recovery, options.ticksPerTick);
  const driver = new ConsensusDriver({ config, serverId, core, storage: options.storage, apply, log, onFatal: options.onFatal, faults: options.faults, now });
  const node = compose({
    config,
    log,
    serverId,
    apply,
    committer: driver,
    authority: (replicated) => {
      const authority = new EnsembleSessionAuthority(replicated, driver);
      driver.reportSessionsTo(authority);
      return authority;
    },
    replication: ensembleReplication(driver, config, serverId),
    now,
    containerCheckIntervalMs: options.containerCheckIntervalMs,
  });
  driver.watchRole((_role, _leader, serving) => node.servingChanged(serving));
  return node;
}
