// The control channel between a launcher and a `zkts server` it started: the IPC channel of
// child_process.spawn, opened only when the launcher sets ZKTS_CONTROL=ipc. A member started
// by hand has none. Small and typed: the launcher sends peer fault rules, the member says
// when it listens (or why it could not start) and acknowledges rules. Closing the channel is
// the member's lifeline: a member whose launcher is gone stops.
import { validatePeerFaultRules, type PeerFaultRule } from '../faults/peer-faults.js';

/** The environment variable, and its value, that open the control channel in a member. */
export const controlEnvKey = 'ZKTS_CONTROL';
export const controlEnvValue = 'ipc';
/** How long a member waits for its launcher's first message before giving up. */
export const controlInitTimeoutMs = 30_000;

/** Launcher → member. The first message is always `init`. */
export type ControlRequest =
  | { type: 'init'; seed: number; peerFaults: readonly PeerFaultRule[] }
  | { type: 'peerFaults'; seq: number; rules: readonly PeerFaultRule[] };

/** When a member got to each stage of its start, in ms since its process started. */
export interface StartTiming {
  /** Node ready to run the program. */
  bootstrapMs: number;
  /** The server's modules loaded (the command's entry point runs). */
  loadedMs: number;
  /** Recovered from disk and listening. */
  listeningMs: number;
  /** CPU time (user and system) the process had used by then. */
  cpuMs: number;
}

/** Member → launcher. */
export type ControlReport =
  | { type: 'started'; clientPort: number; timing: StartTiming }
  | { type: 'failed'; code: string | null; message: string }
  | { type: 'ack'; seq: number }
  | { type: 'refused'; seq: number; reason: string };

/** Checks a message a member received; throws naming what is wrong. */
export function parseControlRequest(value: unknown): ControlRequest {
  const m = value as Record<string, unknown> | null;
  if (m === null || typeof m !== 'object') throw new TypeError('control message is not an object');
  switch (m.type) {
    case 'init':
      if (typeof m.seed !== 'number') throw new TypeError('init: seed must be a number');
      return { type: 'init', seed: m.seed, peerFaults: validatePeerFaultRules(m.peerFaults) };
    case 'peerFaults':
      if (typeof m.seq !== 'number') throw new TypeError('peerFaults: seq must be a number');
      return { type: 'peerFaults', seq: m.seq, rules: validatePeerFaultRules(m.rules) };
    default:
      throw new TypeError(`unknown control message type ${JSON.stringify(m.type)}`);
  }
}

/** Checks a message a launcher received; null when it is not one of ours. */
export function parseControlReport(value: unknown): ControlReport | null {
  const m = value as Record<string, unknown> | null;
  if (m === null || typeof m !== 'object') return null;
  switch (m.type) {
    case 'started':
      return typeof m.clientPort === 'number' && typeof m.timing === 'object' && m.timing !== null ? (m as unknown as ControlReport) : null;
    case 'failed':
      return typeof m.message === 'string' ? { type: 'failed', code: typeof m.code === 'string' ? m.code : null, message: m.message } : null;
    case 'ack':
      return typeof m.seq === 'number' ? { type: 'ack', seq: m.seq } : null;
    case 'refused':
      return typeof m.seq === 'number' ? { type: 'refused', seq: m.seq, reason: String(m.reason) } : null;
    default:
      return null;
  }
}
