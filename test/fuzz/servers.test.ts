// The servers a fuzz run attacks (src/fuzz/servers.ts on the one launcher): a member that dies
// is a finding, reported with how it ended and the lines that say why; a restart brings the
// members back on their own data; a member that ignores SIGTERM fails the restart.
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type ZooKeeperClient } from '../../src/client/index.js';
import { fatalExitCode } from '../../src/cli/server.js';
import { HealthChecker } from '../../src/fuzz/health.js';
import { FuzzServers } from '../../src/fuzz/servers.js';
import { memberStopTimeoutMs } from '../../src/testing/member-process.js';
import { scaled, waitFor, withDeadline } from '../support/wait.js';

let servers: FuzzServers | null = null;
const clients: ZooKeeperClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => withDeadline(c.close(), 3_000, 'client close').catch(() => undefined)));
  await servers?.destroy();
  servers = null;
});

async function connect(set: FuzzServers): Promise<ZooKeeperClient> {
  const client = createClient(set.connectString, { sessionTimeout: 4_000, closeTimeout: 1_000 });
  clients.push(client);
  await withDeadline(client.connect(), 15_000, `a session on ${set.connectString}`);
  return client;
}

describe('fuzz servers', () => {
  it('a member that crashes is found by the health check with its exit code, and its output tail says why', async () => {
    servers = await FuzzServers.start({ kind: 'standalone' });
    const checker = await HealthChecker.start(servers, { rssMaxMiB: 300, sessionWaitMs: 5_000 });
    try {
      const member = servers.member(1);
      const client = await connect(servers);
      // A file size limit of one byte: the next txn log write fails (EFBIG), which is fatal.
      execFileSync('prlimit', ['--pid', String(member.pid), '--fsize=1']);
      await client.create('/crash', 'x').catch(() => undefined);
      await waitFor('server 1 to exit', () => servers!.exited().length > 0);
      expect(member.exit).toMatchObject({ code: fatalExitCode, signal: null, expected: false });
      expect((await checker.check(1)).failures).toEqual([`server 1 exited (code ${fatalExitCode}, signal null)`]);
      const tail = member.outputTail();
      expect(tail).toContain('txn log write failed');
      expect(tail).toContain('EFBIG');
      // Only what matters for a crash: no pino record below error.
      expect(tail).not.toMatch(/^\{"level":[1-4]\d,/m);
      expect(servers.outputTails()).toContain(tail);
    } finally {
      await checker.close();
    }
  });

  it('restart stops every member and starts it again on its own data', async () => {
    servers = await FuzzServers.start({ kind: 'standalone' });
    const before = servers.member(1).pid;
    await (await connect(servers)).create('/kept', 'before restart');
    await servers.restart();
    expect(servers.member(1).pid).not.toBe(before);
    expect(servers.exited()).toEqual([]);
    expect((await (await connect(servers)).getData('/kept')).data?.toString()).toBe('before restart');
  });

  it('a member that does not act on SIGTERM fails the restart, naming it, and is killed and started again', async () => {
    servers = await FuzzServers.start({ kind: 'standalone' });
    const member = servers.member(1);
    // Stopped behind the launcher's back, as a hung member would be: SIGTERM stays pending.
    process.kill(member.pid, 'SIGSTOP');
    await expect(servers.restart()).rejects.toThrow(`server 1 did not exit within ${scaled(memberStopTimeoutMs)} ms of SIGTERM and was killed`);
    expect(member.running).toBe(true);
    expect(await member.ruok()).toBe('imok');
  }, scaled(memberStopTimeoutMs * 6));
});
