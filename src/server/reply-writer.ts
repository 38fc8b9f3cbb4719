import type { Socket } from 'node:net';
import { loopWork } from '../loop-work.js';
import { joinFrames } from '../protocol/framing.js';

/**
 * Replies finished in one go (a run of commits, a burst of reads) leave in one write of one
 * buffer: they are held until the current batch of callbacks is done. A connection with more
 * requests coming (a pipelining client) holds them, inside turns of loopWork, until that work
 * runs out or a few turns have passed: one write for many replies instead of one a turn (each
 * also wakes the client).
 */
export class ReplyWriter {
  private held: Buffer[] = [];
  private uncorkDeferred = false;
  private uncorkOnTick = false;

  constructor(
    private readonly socket: Socket,
    private readonly isOpen: () => boolean,
  ) {}

  write(frame: Buffer): void {
    this.held.push(frame);
  }

  /** A frame outside the rounds (a watch notification): sent now, or after the replies held before it. */
  writeNow(frame: Buffer): void {
    if (this.held.length > 0) this.held.push(frame);
    else this.socket.write(frame);
  }

  /** A round of replies ended; `more` when the connection has requests still to answer. */
  endRound(more: boolean): void {
    if (this.held.length === 0) return;
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

  /** Sends what is held now (before a close). */
  readonly uncork = (): void => {
    this.uncorkDeferred = false;
    this.uncorkOnTick = false;
    if (this.held.length === 0) return;
    const frames = this.held;
    this.held = [];
    if (this.isOpen()) this.socket.write(joinFrames(frames));
  };
}
