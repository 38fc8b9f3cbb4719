import type { ServerConfig } from '../config/config.js';
import type { Committer, SoloCommitter } from './committer.js';
import type { ConsensusDriver } from './consensus-driver.js';
import { memberMetrics } from './member-metrics.js';

/**
 * How a node's writes are ordered and made durable, and what that means for serving: alone
 * (a standalone server, serving once started) or with an ensemble (serving while its role
 * is ready). The node holds one of these instead of being a subclass.
 */
export interface Replication {
  readonly committer: Committer;
  readonly serving: boolean;
  /** srvr's Mode: standalone, leader, follower, observer, or looking. */
  mode(): string;
  /** Extra mntr rows for the role. */
  roleMetrics(): [string, string | number][];
  /** Brings the consensus clock up to date before a client is answered (a paused process). */
  beforeClientWork(): void;
  /** Binds what it listens on; a StartupError when it cannot. */
  bind(): Promise<void>;
  begin(): void;
  stop(): Promise<void>;
}

/** A standalone server: its own quorum of one, serving from the moment it begins. */
export function standaloneReplication(committer: SoloCommitter): Replication {
  let serving = false;
  return {
    committer,
    get serving() {
      return serving;
    },
    mode: () => 'standalone',
    roleMetrics: () => [],
    beforeClientWork: () => undefined,
    bind: async () => undefined,
    begin: () => {
      serving = true;
    },
    stop: async () => {
      serving = false;
    },
  };
}

/** An ensemble member: the consensus driver decides when it serves. */
export function ensembleReplication(driver: ConsensusDriver, config: ServerConfig, serverId: number): Replication {
  return {
    committer: driver,
    get serving() {
      return driver.serving;
    },
    mode: () => {
      if (!driver.serving) return 'looking';
      return driver.role === 'leading' ? 'leader' : driver.role === 'observing' ? 'observer' : 'follower';
    },
    roleMetrics: () => memberMetrics(driver, config, serverId),
    beforeClientWork: () => driver.catchUpClock(),
    bind: () => driver.bind(),
    begin: () => driver.begin(),
    stop: () => driver.stop(),
  };
}
