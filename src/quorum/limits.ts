import { ConfigError } from '../errors.js';

/**
 * Every bound the consensus core obeys, in core ticks or counts (units last). The shell
 * converts zoo.cfg's tickTime/initLimit/syncLimit into core ticks; the core never reads a
 * clock, so a "tick" is simply an event the shell delivers at a fixed interval.
 */
export interface QuorumLimits {
  /** Ticks a learner may take to connect, sync and ack NEWLEADER; the leader's establishment deadline too. */
  readonly initLimitTicks: number;
  /** Ticks without hearing from the other side before a learner or leader gives up. */
  readonly syncLimitTicks: number;
  /** Leader sends a PING to each learner every this many ticks. */
  readonly pingIntervalTicks: number;
  /** After a quorum agrees in election, wait this long for a better vote before deciding. */
  readonly finalizeWaitTicks: number;
  /** First resend interval of election notifications; doubles while nothing arrives. */
  readonly notificationIntervalTicksMin: number;
  /** Cap of the doubling resend interval. */
  readonly notificationIntervalTicksMax: number;
  /** Proposals the leader keeps in flight (proposed, not yet committed). */
  readonly proposalsOutstandingMax: number;
  /** Client writes queued at the leader while the pipeline is full; beyond this they are rejected. */
  readonly writeBacklogMax: number;
  /** Committed txns kept in memory for DIFF; a learner further behind than this gets SNAP. */
  readonly committedLogWindowMax: number;
  /** A SNAP's snapshot travels in pieces of at most this many bytes, each well inside a peer frame. */
  readonly snapChunkBytes: number;
  /** Ms one tick stands for: session timeouts (ms) are counted in ticks with it. */
  readonly tickMs: number;
  /** Sessions expire in buckets of this many ticks (zoo.cfg's tickTime). */
  readonly sessionBucketTicks: number;
}

export const defaultQuorumLimits: QuorumLimits = Object.freeze({
  initLimitTicks: 20,
  syncLimitTicks: 10,
  pingIntervalTicks: 1,
  finalizeWaitTicks: 2,
  notificationIntervalTicksMin: 2,
  notificationIntervalTicksMax: 64,
  proposalsOutstandingMax: 1000,
  writeBacklogMax: 10_000,
  committedLogWindowMax: 500,
  snapChunkBytes: 1024 * 1024,
  tickMs: 20,
  sessionBucketTicks: 10,
});

/** Checks the limits against each other once, at start-up; a bad combination is a config error. */
export function validateQuorumLimits(limits: QuorumLimits): QuorumLimits {
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new ConfigError(key, `must be a positive integer, got ${String(value)}`);
    }
  }
  if (limits.pingIntervalTicks >= limits.syncLimitTicks) {
    throw new ConfigError('pingIntervalTicks', 'must be below syncLimitTicks or every learner times out');
  }
  if (limits.notificationIntervalTicksMin > limits.notificationIntervalTicksMax) {
    throw new ConfigError('notificationIntervalTicksMin', 'must not exceed notificationIntervalTicksMax');
  }
  if (limits.finalizeWaitTicks >= limits.initLimitTicks) {
    throw new ConfigError('finalizeWaitTicks', 'must be below initLimitTicks');
  }
  return Object.freeze({ ...limits });
}
