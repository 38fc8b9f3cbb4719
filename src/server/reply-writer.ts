import type { Socket } from 'node:net';
import { loopWork } from '../loop-work.js';

/**
 * Replies finished in one go (a run of commits, a burst of reads) leave in one writev: the
 * socket stays corked until the current batch of callbacks is done. A connection with more
 * requests coming (a pipelining client) stays corked, inside turns of loopWork, until that
 * work runs out or a few turns have passed: one writev for many replies instead of one a
 * turn (each also wakes the client).
 */
export class ReplyWriter {
  private corked = false;
  private uncorkDeferred = false;
  private uncorkOnTick = false;

  constructor(
    private readonly socket: Socket,
    private readonly isOpen: () => boolean,
  ) {}

  write(frame: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
    }
    this.socket.write(frame);
  }

  /** A round of replies ended; `more` when the connection has requests still to answer. */
  endRound(more: boolean): void {
    if (!this.corked) return;
    if (more && loopWork.inTurn) {
      if (!this.uncorkDeferred) {
        this.uncorkDeferred = true;
        loopWork.afterWork(this.uncork);
      }
    } else if (!this.uncorkOnTick) {
      this.uncorkOnTick = true;
      process.nextTick(this.uncork);
    }
  }

  /** Sends what is corked now (before a close). */
  readonly uncork = (): void => {
    this.uncorkDeferred = false;
    this.uncorkOnTick = false;
    if (!this.corked) return;
    this.corked = false;
    if (this.isOpen()) this.socket.uncork();
  };
}
