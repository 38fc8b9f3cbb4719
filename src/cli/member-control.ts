import { PeerFaults, type PeerFaultRule } from '../faults/peer-faults.js';
import type { Logger } from '../logger.js';
import type { PeerFaultHook } from '../quorum/peer-options.js';
import { controlInitTimeoutMs, parseControlRequest, type ControlReport, type ControlRequest } from '../testing/control.js';

export interface ControlChannel {
  /** The peer fault hook of member `sid`, driven by the launcher's rules. */
  peerFaultsFor(sid: number): PeerFaultHook;
  report(message: ControlReport): void;
  /** Tells the launcher why this server did not start; resolves once the message is out. */
  failed(err: unknown): Promise<void>;
  onLauncherGone(listener: () => void): void;
  close(): void;
}

/**
 * The member's end of its launcher's control channel (src/testing/control.ts): waits for the
 * launcher's init, then applies the peer fault rules it sends. Its closing is the lifeline.
 */
export async function openControlChannel(log: Logger): Promise<ControlChannel> {
  const channelLog = log.child({ component: 'control' });
  let rules: readonly PeerFaultRule[] = [];
  let seed = 0;
  let faults: PeerFaults | null = null;
  let initialized: (() => void) | null = null;
  const send = (message: ControlReport, then?: () => void) => {
    if (process.connected) process.send!(message, undefined, undefined, () => then?.());
  };
  // One listener from the start: two messages read at once are both emitted before any await resumes.
  process.on('message', (message) => {
    let request: ControlRequest;
    try {
      request = parseControlRequest(message);
    } catch (err) {
      channelLog.warn({ reason: (err as Error).message }, 'bad control message ignored');
      return;
    }
    if (request.type === 'init') {
      ({ seed, peerFaults: rules } = request);
      initialized?.();
      return;
    }
    rules = request.rules;
    faults?.update(rules);
    channelLog.info({ rules: rules.length }, 'peer fault rules applied');
    send({ type: 'ack', seq: request.seq });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no init from the launcher within ${controlInitTimeoutMs} ms`)), controlInitTimeoutMs);
      const gone = () => reject(new Error('the launcher went away before starting this server'));
      process.once('disconnect', gone);
      initialized = () => {
        clearTimeout(timer);
        process.off('disconnect', gone);
        resolve();
      };
    });
  } catch (err) {
    if (process.connected) process.disconnect();
    throw err;
  }
  return {
    peerFaultsFor: (sid) => {
      faults = new PeerFaults(sid, seed);
      faults.update(rules);
      return faults;
    },
    report: (message) => send(message),
    failed: (err) =>
      new Promise<void>((resolve) => {
        const code = errnoCode(err);
        if (!process.connected) return resolve();
        send({ type: 'failed', code, message: err instanceof Error ? err.message : String(err) }, () => {
          process.disconnect();
          resolve();
        });
      }),
    onLauncherGone: (listener) => {
      if (!process.connected) listener();
      else process.once('disconnect', listener);
    },
    close: () => {
      faults?.clear();
      if (process.connected) process.disconnect();
    },
  };
}

/** The errno code (EADDRINUSE, EACCES...) behind a start-up failure: a StartupError carries it as its cause. */
function errnoCode(err: unknown): string | null {
  for (let e = err as (NodeJS.ErrnoException & { cause?: unknown }) | null; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && !e.code.startsWith('ERR_')) return e.code;
  }
  return null;
}
