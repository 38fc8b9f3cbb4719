import { createConnection } from 'node:net';
import { scaled } from '../testing/wait.js';
import { decodePeerBody } from './peer-wire.js';

// Sends one case over one election-port connection. When the case ends with a barrier (a
// LOOKING notification every member answers), the connection is ended once an answer arrives:
// the member has handled everything before it. Every wait is bounded.

export const peerIdleMs = 1500;
const closeWaitMs = 2000;

export interface PeerConnectionOutcome {
  sent: number;
  /** The member answered the barrier. */
  answered: boolean;
  /** The member closed (or reset) the connection before the fuzzer ended it. */
  closedByMember: boolean;
  idle: boolean;
  refused: boolean;
  /** Frames the member sent (its answers, LEADERINFO to a fake learner, ...). */
  framesReceived: number;
}

/** Writes `chunks` (the hello first, the barrier last when there is one) and waits as above. */
export function runPeerConnection(port: number, chunks: readonly Buffer[], barrier: boolean): Promise<PeerConnectionOutcome> {
  return new Promise((resolve) => {
    const outcome: PeerConnectionOutcome = { sent: 0, answered: false, closedByMember: false, idle: false, refused: false, framesReceived: 0 };
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let connected = false;
    let ended = false;
    let idleTimer: NodeJS.Timeout | null = null;
    let closeTimer: NodeJS.Timeout | null = null;

    const end = () => {
      if (ended) return;
      ended = true;
      if (idleTimer !== null) clearTimeout(idleTimer);
      socket.end();
      closeTimer = setTimeout(() => socket.destroy(), scaled(closeWaitMs));
    };
    const armIdle = () => {
      if (idleTimer !== null) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        outcome.idle = true;
        end();
      }, scaled(peerIdleMs));
    };
    /** True once a notification came back: the barrier's answer (or an earlier one's, rarely). */
    const sawAnswer = (): boolean => {
      let answered = false;
      while (pending.length >= 4) {
        const length = pending.readUInt32BE(0);
        if (pending.length < 4 + length) break;
        const body = pending.subarray(4, 4 + length);
        pending = pending.subarray(4 + length);
        outcome.framesReceived++;
        try {
          const msg = decodePeerBody(body) as { type?: unknown } | null;
          if (msg !== null && typeof msg === 'object' && msg.type === 'notification') answered = true;
        } catch {
          // Not ours to judge.
        }
      }
      return answered;
    };

    socket.on('connect', () => {
      connected = true;
      for (const chunk of chunks) {
        if (chunk.length > 0) socket.write(chunk);
      }
      outcome.sent = chunks.length;
      if (barrier) armIdle();
      else end();
    });
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (sawAnswer() && !ended) {
        outcome.answered = true;
        end();
      } else if (!ended) {
        armIdle();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (idleTimer !== null) clearTimeout(idleTimer);
      if (closeTimer !== null) clearTimeout(closeTimer);
      if (!connected) outcome.refused = true;
      else if (!ended) outcome.closedByMember = true;
      resolve(outcome);
    });
  });
}
