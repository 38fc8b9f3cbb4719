import { createClient, type ZooKeeperClient } from '../client/index.js';
import { ErrorCode } from '../protocol/constants.js';
import { waitFor } from '../testing/wait.js';
import { superUser, type FuzzServers } from './servers.js';

// What "the servers survived" means after each batch of fuzz input: every member's process is
// alive, answers `ruok` with `imok`, an established session (the zkts client's, opened before
// the fuzzing began) still reads and writes, and every member's RSS is under a bound.

/** The health checker's own node: created with an ACL only its superuser passes. */
export const healthPath = '/fuzz-health';
/** Nodes the fuzzer did not make: never cleaned up. */
const keptTopLevel = new Set(['zookeeper', healthPath.slice(1)]);

export interface HealthOptions {
  /** Largest RSS (VmRSS) allowed for each member, MiB. */
  rssMaxMiB: number;
  /** How long the session gets to read and write again (an election may be running). */
  sessionWaitMs: number;
}

export interface HealthReport {
  failures: string[];
  /** VmRSS of each member by sid, MiB. */
  rssMiB: Map<number, number>;
}

export class HealthChecker {
  private constructor(
    private readonly servers: FuzzServers,
    private readonly client: ZooKeeperClient,
    private readonly options: HealthOptions,
  ) {}

  static async start(servers: FuzzServers, options: HealthOptions): Promise<HealthChecker> {
    const client = createClient(servers.connectString, {
      sessionTimeout: 10_000,
      authInfo: [{ scheme: 'digest', auth: `${superUser.user}:${superUser.password}` }],
    });
    await client.connect();
    const acl = [{ perms: 31, id: { scheme: 'auth', id: '' } }];
    if ((await client.exists(healthPath)) === null) await client.create(healthPath, 'start', { acl });
    return new HealthChecker(servers, client, options);
  }

  get sessionId(): bigint {
    return this.client.sessionId;
  }

  /** Every check, each failure described; no failures means the servers are healthy. */
  async check(round: number): Promise<HealthReport> {
    const failures: string[] = [];
    const rssMiB = new Map<number, number>();
    for (const m of this.servers.exited()) {
      failures.push(`server ${m.sid} exited (code ${m.exit!.code}, signal ${m.exit!.signal})`);
    }
    if (failures.length > 0) return { failures, rssMiB };
    for (const m of this.servers.members) {
      const answer = await m.ruok().catch((err: Error) => `no answer: ${err.message}`);
      if (answer !== 'imok') failures.push(`server ${m.sid} answered ruok with '${answer}'`);
    }
    const value = `round ${round}`;
    try {
      // A member that exits meanwhile ends the wait: the check has failed already.
      await waitFor(`the established session to write and read '${value}'`, async () => {
        if (this.servers.exited().length > 0) return 'a member exited';
        await this.client.setData(healthPath, value);
        const { data } = await this.client.getData(healthPath);
        return data?.toString() === value;
      }, { timeoutMs: this.options.sessionWaitMs, intervalMs: 50 });
    } catch (err) {
      failures.push(`${(err as Error).message} (session state ${this.client.state})`);
    }
    for (const m of this.servers.members) {
      if (!m.running) continue;
      const rss = m.rssMiB();
      rssMiB.set(m.sid, rss);
      if (rss > this.options.rssMaxMiB) failures.push(`server ${m.sid} RSS ${rss.toFixed(1)} MiB exceeds ${this.options.rssMaxMiB} MiB`);
    }
    for (const m of this.servers.exited()) {
      failures.push(`server ${m.sid} exited (code ${m.exit!.code}, signal ${m.exit!.signal})`);
    }
    return { failures, rssMiB };
  }

  /** Deletes what the fuzzer created, so that a long run's tree stays small; returns nodes left. */
  async cleanUp(): Promise<number> {
    let left = 0;
    for (const name of await this.client.getChildren('/')) {
      if (!keptTopLevel.has(name)) left += await this.deleteTree(`/${name}`);
    }
    return left;
  }

  private async deleteTree(path: string): Promise<number> {
    let left = 0;
    let children: string[] = [];
    try {
      children = await this.client.getChildren(path);
    } catch (err) {
      if ((err as { code?: number }).code === ErrorCode.NONODE) return 0;
      return 1;
    }
    const counts = await Promise.all(children.map((c) => this.deleteTree(`${path}/${c}`)));
    for (const c of counts) left += c;
    try {
      await this.client.delete(path);
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== ErrorCode.NONODE) left++;
    }
    return left;
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }
}
