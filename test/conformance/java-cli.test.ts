// The ZooKeeper 3.8 CLI (org.apache.zookeeper.ZooKeeperMain), unmodified, with
// commands fed on stdin to one session.
import zookeeper, { type Client } from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeProcess, dumpServerLogOnFailure, runZkCli, runZkCliCommand, startServer, withDeadline, type ServerHandle } from './harness.js';

let server: ServerHandle | undefined;
/** A third-party client of our own, to look at what a CLI session left behind. */
let checker: Client | undefined;
const srv = (): ServerHandle => {
  if (server === undefined) throw new Error('server not started');
  return server;
};
beforeAll(async () => {
  server = await startServer();
  const client = zookeeper.createClient(server.connectString, {
    sessionTimeout: 30_000,
    spinDelay: 100,
  });
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  await withDeadline(connected, 15_000, 'the checking client to connect');
  checker = client;
});
afterAll(async () => {
  checker?.close();
  await server?.stop();
});
dumpServerLogOnFailure(() => server);

function exists(path: string): Promise<boolean> {
  const client = checker;
  if (client === undefined) throw new Error('no checking client');
  return withDeadline(
    new Promise<boolean>((resolve, reject) => client.exists(path, (error, stat) => (error ? reject(error) : resolve(Boolean(stat))))),
    10_000,
    `exists ${path}`,
  );
}

let cliRuns = 0;

async function cli(commands: string[]): Promise<{ out: string; transcript: string }> {
  // An ephemeral owned by the CLI's session: gone at once if `quit` closed the session, there
  // for the 30 s session timeout if the process merely exited.
  const marker = `/cli-session-${++cliRuns}`;
  const result = await runZkCli(srv(), [`create -e ${marker} x`, ...commands]);
  const transcript = describeProcess('ZooKeeperMain', result);
  // ZooKeeperMain exits with a non-zero code when a command failed (as some
  // here do on purpose); it must still have run to the end by itself, `quit`
  // included. (Its "state:Closed" line is no sign of that: the event thread
  // prints it while `quit` calls System.exit, and under load exit wins.)
  expect({ timedOut: result.timedOut, signal: result.signal }, transcript).toEqual({ timedOut: false, signal: null });
  expect(result.stderr, transcript).toContain(`Created ${marker}\n`);
  expect(await exists(marker), `${marker} after the CLI quit\n${transcript}`).toBe(false);
  // The CLI prints results on stdout and errors on stderr; both matter here.
  return { out: `${result.stdout}\n${result.stderr}`, transcript };
}

/** Lines of `key = value` from a `stat`/`get -s` block that starts at `cZxid`. */
function statBlock(out: string, occurrence = 0): Record<string, string> {
  const blocks = out.split(/^cZxid = /m).slice(1);
  const block = blocks[occurrence];
  if (block === undefined) throw new Error(`no stat block #${occurrence} in\n${out}`);
  const lines = `cZxid = ${block}`.split('\n').slice(0, 11);
  return Object.fromEntries(lines.map((line) => line.split(' = ', 2) as [string, string]));
}

describe('ZooKeeperMain CLI', () => {
  it('creates every node type and reads them back', async () => {
    const { out, transcript } = await cli([
      'create /cli hello',
      'create -e /cli/e x',
      'create -s /cli/s- y',
      'create -s -e /cli/es- z',
      'create -c /cli/cont',
      'create -t 60000 /cli/ttl t',
      'create /cli again',
      'ls /cli',
      'get /cli',
      'stat /cli/e',
      'stat /cli/ttl',
    ]);
    for (const line of ['Created /cli', 'Created /cli/e', 'Created /cli/s-0000000001', 'Created /cli/es-0000000002', 'Created /cli/cont', 'Created /cli/ttl']) {
      expect(out, transcript).toContain(`${line}\n`);
    }
    expect(out).toContain('Node already exists: /cli');
    expect(out).toContain('[cont, e, es-0000000002, s-0000000001, ttl]');
    expect(out).toMatch(/^hello$/m);
    const ephemeral = statBlock(out, 0);
    expect(ephemeral.ephemeralOwner).toMatch(/^0x[0-9a-f]+$/);
    expect(ephemeral.ephemeralOwner).not.toBe('0x0');
    expect(ephemeral.dataLength).toBe('1');
    const ttl = statBlock(out, 1);
    expect(ttl.ephemeralOwner).toBe('0x0');
    expect(ttl.dataLength).toBe('1');
  });

  it('versions set, refuses to delete non-empty nodes, and deletes recursively', async () => {
    const { out, transcript } = await cli([
      'create /cli2 a',
      'create /cli2/child b',
      'set /cli2 b',
      'set -v 0 /cli2 stale',
      'get -s /cli2',
      'delete /cli2',
      'deleteall /cli2',
      'get /cli2',
      'delete /cli2/none',
    ]);
    expect(out, transcript).toContain('version No is not valid : /cli2');
    const stat = statBlock(out, 0);
    expect(stat).toMatchObject({ dataVersion: '1', cversion: '1', numChildren: '1', dataLength: '1', aclVersion: '0' });
    expect(out).toContain('Node not empty: /cli2');
    expect(out).toContain('Node does not exist: /cli2');
    expect(out).toContain('Node does not exist: /cli2/none');
  });

  it('lists ephemerals, counts descendants, syncs and answers whoami', async () => {
    const { out, transcript } = await cli([
      'create /cli3 x',
      'create /cli3/a x',
      'create -e /cli3/a/e1 x',
      'create -e /cli3/e2 x',
      'getEphemerals /cli3',
      'getAllChildrenNumber /cli3',
      'sync /cli3',
      'whoami',
    ]);
    // (Order is unspecified.)
    expect(out, transcript).toMatch(/^\[(\/cli3\/a\/e1, \/cli3\/e2|\/cli3\/e2, \/cli3\/a\/e1)\]$/m);
    expect(out).toMatch(/^3$/m);
    expect(out).toContain('Sync is OK');
    expect(out).toMatch(/Auth scheme: User\nip: 127\.0\.0\.1\n/);
  });

  it('applies auth and world ACLs and reports insufficient permission', async () => {
    const { out, transcript } = await cli([
      'create /cli4 x',
      'addauth digest u:p',
      'create /cli4/acl d auth:u:p:cdrwa',
      'getAcl /cli4/acl',
      'whoami',
      'setAcl /cli4/acl world:anyone:r',
      'getAcl /cli4/acl',
      'set /cli4/acl nope',
      'get /cli4/acl',
    ]);
    expect(out, transcript).toContain("'digest,'u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=\n: cdrwa");
    expect(out).toMatch(/digest: u\n/);
    expect(out).toContain("'world,'anyone\n: r");
    expect(out).toContain('Insufficient permission : /cli4/acl');
    expect(out).toMatch(/^d$/m);
  });

  it('delivers watch events set with -w', async () => {
    const { out, transcript } = await cli(['stat -w /cli5', 'create /cli5 x', 'get -w /cli5', 'set /cli5 y', 'ls -w /cli5', 'create /cli5/c z', 'ls /cli5']);
    expect(out, transcript).toContain('WatchedEvent state:SyncConnected type:NodeCreated path:/cli5');
    expect(out).toContain('WatchedEvent state:SyncConnected type:NodeDataChanged path:/cli5');
    expect(out).toContain('WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/cli5');
  });

  it('runs a single command given on the command line', async () => {
    const result = await runZkCliCommand(srv(), ['ls', '/']);
    const transcript = describeProcess('ZooKeeperMain ls /', result);
    expect(result.code, transcript).toBe(0);
    expect(result.stdout, transcript).toMatch(/^\[.*\bzookeeper\b.*\]$/m);
  });
});
