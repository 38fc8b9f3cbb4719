// The leader's liveness: PINGs on an interval, learners dropped after initLimit or syncLimit
// of silence, and the step-down when no quorum has been heard within syncLimit.
import { pingMessage } from './messages.js';
import { countsForCommit, LeaderPhase, LearnerPhase, send, type LeaderState, type LearnerHandle } from './leader-state.js';
import { isVoter, quorumSize } from './quorum-view.js';
import { emit } from './role-host.js';

/** LeaderRole.ticksUntilDue: the earliest of the deadlines tick() checks. */
export function leaderTicksUntilDue(s: LeaderState): number {
  const limits = s.host.limits;
  if (s.phase === LeaderPhase.broadcast && !hasSyncedQuorum(s)) return 1;
  let at = (Math.floor(s.now / limits.pingIntervalTicks) + 1) * limits.pingIntervalTicks;
  if (s.phase !== LeaderPhase.broadcast) at = Math.min(at, s.establishDeadline + 1);
  for (const h of s.learners.values()) {
    at = Math.min(at, h.lastHeard + silenceLimit(s, h) + 1);
    if (countsForCommit(h)) at = Math.min(at, h.lastHeard + limits.syncLimitTicks + 1);
  }
  return Math.max(1, at - s.now);
}

export function dropSilentLearners(s: LeaderState): void {
  for (const h of s.learners.values()) {
    const limit = silenceLimit(s, h);
    if (s.now - h.lastHeard > limit) {
      s.learners.delete(h.sid);
      emit(s.host, { kind: 'disconnect', peer: h.sid, reason: `learner silent for more than ${limit} ticks` });
    }
  }
}

/** How long a learner may stay silent before its link is dropped: syncLimit once up to date. */
function silenceLimit(s: LeaderState, h: LearnerHandle): number {
  return h.phase === LearnerPhase.upToDate ? s.host.limits.syncLimitTicks : s.host.limits.initLimitTicks;
}

/** Voters we heard from within syncLimit, plus ourselves: the quorum we may still serve. */
export function hasSyncedQuorum(s: LeaderState): boolean {
  // Counted in place, no list of sids: this runs on every turn of the leader's event loop.
  // Learner sids are distinct (a map key), so each voter counts once.
  let synced = isVoter(s.host.view, s.host.self) ? 1 : 0;
  for (const h of s.learners.values()) {
    if (countsForCommit(h) && s.now - h.lastHeard <= s.host.limits.syncLimitTicks && h.sid !== s.host.self && isVoter(s.host.view, h.sid)) synced++;
  }
  return synced >= quorumSize(s.host.view);
}

export function sendPings(s: LeaderState): void {
  for (const h of s.learners.values()) {
    if (h.phase !== LearnerPhase.connected) send(s, h.sid, pingMessage(s.lastProposed));
  }
}
