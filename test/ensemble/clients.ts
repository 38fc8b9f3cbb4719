// Client-side helpers for the real-process ensemble suite: our TypeScript client pinned to
// chosen servers, a dump of a subtree for comparing servers, and writes that retry across a
// failover until a deadline.
import { createClient, type ClientOptions, type ZooKeeperClient } from '../../src/client/index.js';
import type { Member } from './cluster-harness.js';
import { waitFor, withDeadline } from './cluster-harness.js';

export const connectTimeoutMs = 10_000;

/** Clients opened through `connectTo`, closed by `closeClients` (afterAll / afterEach). */
const openClients = new Set<ZooKeeperClient>();

/**
 * Our client, connected to the given servers only (in that order), with a session
 * established. Closed by closeClients().
 */
export async function connectTo(members: readonly Member[], options: ClientOptions = {}): Promise<ZooKeeperClient> {
  const client = createClient(members.map((m) => m.connectString).join(','), {
    sessionTimeout: 6_000,
    shuffleHosts: false,
    connectTimeout: connectTimeoutMs,
    reconnectDelay: { min: 20, max: 200 },
    closeTimeout: 1_000,
    ...options,
  });
  openClients.add(client);
  await withDeadline(client.connect(), connectTimeoutMs + 1_000, `a session on ${members.map((m) => m.sid).join(',')}`);
  return client;
}

/** Closes a client without waiting long on a server that is gone. */
export async function closeClient(client: ZooKeeperClient): Promise<void> {
  openClients.delete(client);
  await withDeadline(client.close(), 3_000, 'client close').catch(() => undefined);
}

export async function closeClients(): Promise<void> {
  await Promise.all([...openClients].map((c) => closeClient(c)));
}

/** Every node under `root` (inclusive) as path → data (utf8), sorted by path. */
export async function dumpTree(client: ZooKeeperClient, root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (p: string): Promise<void> => {
    const { data } = await client.getData(p);
    out[p] = data === null ? '' : data.toString('utf8');
    const children = (await client.getChildren(p)).sort();
    for (const child of children) await visit(p === '/' ? `/${child}` : `${p}/${child}`);
  };
  await visit(root);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** After a sync, the subtree as the given server sees it (one short-lived session on it alone). */
export async function treeOn(member: Member, root: string): Promise<Record<string, string>> {
  const client = await connectTo([member]);
  try {
    await client.sync(root);
    return await dumpTree(client, root);
  } finally {
    await closeClient(client);
  }
}

/**
 * Retries `op` until it succeeds or the deadline passes: for writes across a failover, where
 * CONNECTIONLOSS and friends are expected for a while.
 */
export async function eventually<T>(op: () => Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const box = await waitFor(what, async () => ({ value: await op() }), { timeoutMs, intervalMs: 50 });
  return box.value;
}

export const errorCode = (error: unknown): number | undefined => (error as { code?: number }).code;
