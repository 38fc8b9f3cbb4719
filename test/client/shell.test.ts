import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runShell } from '../../src/client/shell/index.js';
import { startServer, targets, waitFor, type TestServer } from './servers.js';

class Capture extends PassThrough {
  text = '';
  constructor() {
    super();
    this.on('data', (d: Buffer) => (this.text += d.toString()));
  }
}

async function once(connectString: string, ...command: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runShell([connectString, '--', ...command], { stdin: new PassThrough(), stdout, stderr });
  return { code, out: stdout.text, err: stderr.text };
}

describe.each(targets())('zkts shell against %s', (target) => {
  let server: TestServer;
  let cs: string;

  beforeAll(async () => {
    server = await startServer(target);
    cs = server.connectString;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('runs one command per invocation, prints results and exits non-zero on errors', async () => {
    expect(await once(cs, 'create', '/sh', 'hello world')).toEqual({ code: 0, out: 'Created /sh\n', err: '' });
    expect(await once(cs, 'get', '/sh')).toEqual({ code: 0, out: 'hello world\n', err: '' });
    expect(await once(cs, 'set', '/sh', 'v2')).toMatchObject({ code: 0, out: '' });
    const getS = await once(cs, 'get', '-s', '/sh');
    expect(getS.out).toMatch(/^v2\ncZxid = 0x[0-9a-f]+\n/);
    expect(getS.out).toContain('dataVersion = 1\n');
    expect((await once(cs, 'create', '-s', '/sh/seq-', 'x')).out).toBe('Created /sh/seq-0000000000\n');
    expect((await once(cs, 'create', '/sh/nodata')).out).toBe('Created /sh/nodata\n');
    expect((await once(cs, 'get', '/sh/nodata')).out).toBe('null\n');
    expect((await once(cs, 'create', '-c', '/sh/cont')).code).toBe(0);
    expect((await once(cs, 'create', '-t', '5000', '/sh/ttl', 't')).code).toBe(0);
    expect(await once(cs, 'ls', '/sh')).toEqual({ code: 0, out: '[cont, nodata, seq-0000000000, ttl]\n', err: '' });
    const stat = await once(cs, 'stat', '/sh');
    expect(stat.out).toContain('numChildren = 4\n');
    expect(stat.out).toContain('ephemeralOwner = 0x0\n');

    const missing = await once(cs, 'get', '/nope');
    expect(missing).toEqual({ code: 1, out: '', err: 'Node does not exist: /nope\n' });
    expect((await once(cs, 'create', '/sh')).err).toBe('Node already exists: /sh\n');
    expect((await once(cs, 'delete', '/sh')).err).toBe('Node not empty: /sh\n');
    expect((await once(cs, 'set', '-v', '7', '/sh', 'x')).err).toBe('version No is not valid: /sh\n');
    const usage = await once(cs, 'create');
    expect(usage.code).toBe(1);
    expect(usage.err).toContain('usage: create');
    expect((await once(cs, 'frobnicate')).err).toContain('Unknown command: frobnicate');

    expect(await once(cs, 'ls', '-R', '/sh')).toMatchObject({ code: 0, out: '/sh\n/sh/cont\n/sh/nodata\n/sh/seq-0000000000\n/sh/ttl\n' });
    expect(await once(cs, 'getAcl', '/sh')).toEqual({ code: 0, out: "'world,'anyone\n: cdrwa\n", err: '' });
    expect((await once(cs, 'setAcl', '/sh/nodata', 'world:anyone:r')).code).toBe(0);
    expect((await once(cs, 'getAcl', '/sh/nodata')).out).toBe("'world,'anyone\n: r\n");
    expect((await once(cs, 'set', '/sh/nodata', 'x')).err).toBe('Insufficient permission: /sh/nodata\n');
    expect((await once(cs, 'sync', '/sh')).out).toBe('Sync is OK\n');
    expect((await once(cs, 'getAllChildrenNumber', '/sh')).out).toBe('4\n');
    // An ephemeral lives as long as the one-shot session.
    expect((await once(cs, 'create', '-e', '/sh/eph', 'e')).out).toBe('Created /sh/eph\n');
    expect((await once(cs, 'get', '/sh/eph')).code).toBe(1);
    expect(await once(cs, 'delete', '/sh/ttl')).toEqual({ code: 0, out: '', err: '' });
    expect((await once(cs, 'delete', '/sh/ttl')).err).toBe('Node does not exist: /sh/ttl\n');
    expect(await once(cs, 'deleteall', '/sh')).toMatchObject({ code: 0 });
    expect((await once(cs, 'get', '/sh')).code).toBe(1);
  });

  it('reports a server that cannot be reached', async () => {
    const stderr = new Capture();
    const code = await runShell(['--timeout', '300', '127.0.0.1:1', '--', 'ls', '/'], { stdin: new PassThrough(), stdout: new Capture(), stderr });
    expect(code).toBe(1);
    expect(stderr.text).toMatch(/Could not connect to 127\.0\.0\.1:1/);
  });

  it('drives the interactive shell over streams: prompt with state, commands, watches, history, close, connect, quit', async () => {
    const stdin = new PassThrough();
    const stdout = new Capture();
    const stderr = new Capture();
    const done = runShell([cs], { stdin, stdout, stderr, terminal: false });
    const send = async (line: string, expectOut: string | RegExp): Promise<void> => {
      const mark = stdout.text.length;
      stdin.write(`${line}\n`);
      await waitFor(`output ${String(expectOut)} after '${line}' (stdout: ${JSON.stringify(stdout.text.slice(mark))}, stderr: ${JSON.stringify(stderr.text)})`, () => {
        const fresh = stdout.text.slice(mark) + stderr.text;
        return typeof expectOut === 'string' ? fresh.includes(expectOut) : expectOut.test(fresh);
      });
    };
    await waitFor('connected banner', () => /SYNC_CONNECTED \(session 0x[0-9a-f]+, timeout \d+ ms\)/.test(stdout.text));
    await send('create /i "two words"', 'Created /i');
    await send('get -w /i', 'two words');
    expect(stdout.text).toMatch(new RegExp(`\\[zk: ${cs.replace(/\./g, '\\.')}\\(SYNC_CONNECTED\\) 2\\] `));
    await send("set /i 'changed'", 'WatchedEvent state:SyncConnected type:NodeDataChanged path:/i');
    await send('addWatch /i', '');
    await send('create /i/kid', 'type:NodeCreated path:/i/kid');
    await send('get /missing', '');
    await waitFor('error text', () => stderr.text.includes('Node does not exist: /missing'));
    await send('history', '4 - create /i/kid');
    await send('close', 'CLOSED');
    await send('ls /', '(CLOSED)');
    await waitFor('not connected error', () => stderr.text.includes('Not connected'));
    await send(`connect ${cs}`, 'SYNC_CONNECTED');
    await send('ls /i', '[kid]');
    await send('deleteall /i', '');
    await send('quit', '');
    expect(await done).toBe(0);
  });

  it('completes command names and znode paths', async () => {
    const stdin = new PassThrough();
    const stdout = new Capture();
    const done = runShell([cs], { stdin, stdout, stderr: new Capture(), terminal: true });
    await waitFor('connected', () => stdout.text.includes('SYNC_CONNECTED'));
    stdin.write('create /comp-alpha\n');
    await waitFor('created', () => stdout.text.includes('Created /comp-alpha'));
    const mark = stdout.text.length;
    stdin.write('get /comp-al\t');
    await waitFor('path completion', () => stdout.text.slice(mark).includes('/comp-alpha'));
    stdin.write('\n');
    const mark2 = stdout.text.length;
    stdin.write('getAc\t');
    await waitFor('command completion', () => stdout.text.slice(mark2).includes('getAcl'));
    stdin.write('\x15'); // ctrl-u: clear the line
    stdin.write('deleteall /comp-alpha\nquit\n');
    expect(await done).toBe(0);
  });
});
