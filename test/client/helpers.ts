import { createClient, type ClientOptions, type StateChange, type WatchedEvent, type ZooKeeperClient } from '../../src/client/index.js';
import { waitFor } from './servers.js';

/** Tracks clients so a suite can close them all; records their state changes. */
export class ClientPool {
  private readonly clients: ZooKeeperClient[] = [];
  readonly states = new Map<ZooKeeperClient, StateChange[]>();

  make(connectString: string, options: ClientOptions = {}): ZooKeeperClient {
    const client = createClient(connectString, { sessionTimeout: 4000, ...options });
    const seen: StateChange[] = [];
    this.states.set(client, seen);
    client.on('state', (s) => seen.push(s));
    this.clients.push(client);
    return client;
  }

  async connected(connectString: string, options: ClientOptions = {}): Promise<ZooKeeperClient> {
    const client = this.make(connectString, options);
    await client.connect();
    return client;
  }

  stateNames(client: ZooKeeperClient): string[] {
    return (this.states.get(client) ?? []).map((s) => s.state);
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close().catch(() => undefined)));
  }
}

/** Collects events delivered to a listener. */
export class EventLog {
  readonly events: WatchedEvent[] = [];
  readonly listener = (e: WatchedEvent): void => {
    this.events.push(e);
  };

  summary(): string[] {
    return this.events.map((e) => `${e.type} ${e.path}`);
  }

  async waitForCount(n: number, what = `${n} events`, timeoutMs = 5000): Promise<void> {
    await waitFor(`${what} (have ${JSON.stringify(this.summary())})`, () => this.events.length >= n, { timeoutMs: timeoutMs });
  }
}

export async function expectCode(promise: Promise<unknown>, codeName: string): Promise<Error & { code: number; codeName: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { code: number; codeName: string };
    if (e.codeName !== codeName) throw new Error(`expected ${codeName}, got ${e.codeName ?? ''} ${e.message}`);
    return e;
  }
  throw new Error(`expected ${codeName}, but the call succeeded`);
}
