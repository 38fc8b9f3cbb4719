import { createConnection } from 'node:net';
import { Xid } from '../protocol/constants.js';
import { scaled } from '../testing/wait.js';
import type { FuzzInput } from './client-cases.js';

// Sends one case over one client-port connection and watches what comes back, without caring
// what it means: frames are counted (replies, notifications), not checked. Every wait is bounded.

/** How long a connection may stay silent before the fuzzer ends it. */
export const clientIdleMs = 1500;
/** How long the server gets to close after the fuzzer ended its side. */
const closeWaitMs = 2000;
/** Reply frames can be large (getData of a 1 MB node, getChildren of thousands). */
const replyFrameBytesMax = 64 * 1024 * 1024;

export interface ConnectionOutcome {
  /** Inputs written. */
  sent: number;
  /** Inputs the server handled: those answered, the handshake, and one that made it close. */
  delivered: number;
  /** Frames received that were not notifications (the ConnectResponse included). */
  replies: number;
  notifications: number;
  /** The error code of each reply after the handshake, in order (for regression tests). */
  errors: number[];
  /** The server closed (or reset) before the fuzzer ended its side. */
  closedByServer: boolean;
  /** The fuzzer gave up waiting for replies. */
  idle: boolean;
  /** The connection could not be made (the server is gone). */
  refused: boolean;
}

/**
 * Writes every input but the last, waits until each has been answered (or the server closed),
 * then writes the last one and ends its side: a bad last packet then cannot take the replies to
 * the good ones with it, and one that gets no answer at all (a frame that never completes)
 * costs no waiting. `handshakeValid` says whether the first input should get a ConnectResponse.
 * With `awaitLast` (a regression test of one bad packet), the last input's answer is waited for
 * too, so that the test can see what the server said.
 */
export function runClientConnection(port: number, inputs: readonly FuzzInput[], handshakeValid: boolean, awaitLast = false): Promise<ConnectionOutcome> {
  return new Promise((resolve) => {
    const outcome: ConnectionOutcome = { sent: 0, delivered: 0, replies: 0, notifications: 0, errors: [], closedByServer: false, idle: false, refused: false };
    // Frames expected before the last input goes: the ConnectResponse and a reply to each request before the last.
    const expected = handshakeValid ? inputs.length - 1 : 0;
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let ended = false;
    let connected = false;
    let idleTimer: NodeJS.Timeout | null = null;
    let closeTimer: NodeJS.Timeout | null = null;

    const write = (input: FuzzInput) => {
      if (input.bytes.length > 0) socket.write(input.bytes);
      outcome.sent++;
    };
    /** Writes the last input (if not yet written) and ends the fuzzer's side. */
    const finish = () => {
      if (ended) return;
      if (outcome.sent < inputs.length) {
        write(inputs[inputs.length - 1]!);
        if (awaitLast && handshakeValid) {
          armIdle();
          return;
        }
      }
      ended = true;
      if (idleTimer !== null) clearTimeout(idleTimer);
      socket.end();
      closeTimer = setTimeout(() => socket.destroy(), scaled(closeWaitMs));
    };
    const armIdle = () => {
      if (idleTimer !== null) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        outcome.idle = true;
        finish();
      }, scaled(clientIdleMs));
    };
    const countFrames = () => {
      while (pending.length >= 4) {
        const length = pending.readInt32BE(0);
        if (length < 0 || length > replyFrameBytesMax) {
          // Not a frame (a four-letter word's text answer): nothing more to count.
          pending = Buffer.alloc(0);
          return;
        }
        if (pending.length < 4 + length) return;
        const body = pending.subarray(4, 4 + length);
        pending = pending.subarray(4 + length);
        const first = outcome.replies === 0 && handshakeValid;
        // A notification has xid -1 and zxid -1; a reply to a request that used xid -1 has a real zxid.
        if (!first && body.length >= 16 && body.readInt32BE(0) === Xid.notification && body.readBigInt64BE(4) === -1n) {
          outcome.notifications++;
          continue;
        }
        outcome.replies++;
        if (!first && body.length >= 16) outcome.errors.push(body.readInt32BE(12));
      }
    };

    socket.on('connect', () => {
      connected = true;
      for (let i = 0; i < inputs.length - 1; i++) write(inputs[i]!);
      if (outcome.replies >= expected) finish();
      else armIdle();
    });
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      countFrames();
      if (ended) return;
      if (outcome.replies >= expected + (outcome.sent === inputs.length ? 1 : 0)) finish();
      else armIdle();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (idleTimer !== null) clearTimeout(idleTimer);
      if (closeTimer !== null) clearTimeout(closeTimer);
      if (!connected) outcome.refused = true;
      else if (!ended) outcome.closedByServer = true;
      // Closed early: the inputs answered, and the one that made the server close.
      outcome.delivered = outcome.closedByServer ? Math.min(outcome.sent, outcome.replies + 1) : outcome.sent;
      resolve(outcome);
    });
  });
}
