// Clients for the zkts/testing suites: our TypeScript client with its state changes recorded,
// closed together after each test.
import { readFileSync } from 'node:fs';
import { createClient, type ClientOptions, type StateChange, type ZooKeeperClient } from '../../src/client/index.js';
import { waitFor, withDeadline } from '../../src/testing/wait.js';

export interface Tracked {
  zk: ZooKeeperClient;
  states: StateChange[];
  /** The state changes after index `from` whose state is `state`. */
  since(from: number, state: string): StateChange[];
  history(): string;
}

const open = new Set<ZooKeeperClient>();

/** A connected client on `connectString` (hosts in the given order), recording its states. */
export async function connect(connectString: string, options: ClientOptions = {}): Promise<Tracked> {
  const zk = createClient(connectString, { sessionTimeout: 4_000, shuffleHosts: false, reconnectDelay: { min: 20, max: 200 }, closeTimeout: 1_000, ...options });
  const states: StateChange[] = [];
  zk.on('state', (change) => states.push(change));
  open.add(zk);
  await withDeadline(zk.connect(), 15_000, `a session on ${connectString}`);
  return {
    zk,
    states,
    since: (from, state) => states.slice(from).filter((s) => s.state === state),
    history: () => states.map((s) => `${s.state} ${s.server ?? '-'} 0x${s.sessionId.toString(16)} ${s.reason ?? ''}`).join('\n'),
  };
}

export async function closeAll(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((zk) => withDeadline(zk.close(), 3_000, 'client close').catch(() => undefined)));
}

/** Retries `op` until it succeeds (a write across a failover), returning its result. */
export async function eventually<T>(what: string, op: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  let result: { value: T } | undefined;
  await waitFor(what, async () => {
    result = { value: await op() };
    return true;
  }, { timeoutMs, intervalMs: 50 });
  return result!.value;
}

/** A promise's outcome as a value: 'ok' or the error's code name. */
export function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (error: unknown) => (error as { codeName?: string }).codeName ?? (error as Error).message,
  );
}

/** Whether a process with this pid still runs (a zombie waiting for its reaper does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
