// Raw sockets: four-letter words and bad input. Bad input must close only the
// offending connection; a node-zookeeper-client session next to it keeps working.
import net from 'node:net';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpServerLogOnFailure, fourLetterWord, rawExchange, startServer, target, withDeadline, type ServerHandle } from './harness.js';
import { scaled } from '../../src/testing/wait.js';

let server: ServerHandle | undefined;
let bystander: Client | undefined;
let bystanderSession = '';
let bystanderDisconnects = 0;
let bystanderWrites = 0;

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
  client.on('disconnected', () => {
    bystanderDisconnects += 1;
  });
  client.connect();
  await withDeadline(connected, 15_000, 'the bystander client to connect');
  bystander = client;
  bystanderSession = client.getSessionId().toString('hex');
});
afterAll(async () => {
  bystander?.close();
  await server?.stop();
});
dumpServerLogOnFailure(() => server);

/** The bystander is still on its first connection and can write and read. */
async function expectBystanderHealthy(): Promise<void> {
  const client = bystander;
  if (client === undefined) throw new Error('no bystander');
  bystanderWrites += 1;
  const path = `/bystander-${bystanderWrites}`;
  const created = await withDeadline(
    new Promise<string>((resolve, reject) => client.create(path, Buffer.from('ok'), (error, p) => (error ? reject(error) : resolve(p)))),
    10_000,
    'the bystander create',
  );
  expect(created).toBe(path);
  const data = await withDeadline(
    new Promise<Buffer>((resolve, reject) => client.getData(path, (error, d) => (error ? reject(error) : resolve(d)))),
    10_000,
    'the bystander getData',
  );
  expect(data.toString()).toBe('ok');
  expect(bystanderDisconnects).toBe(0);
  expect(client.getSessionId().toString('hex')).toBe(bystanderSession);
}

// ConnectRequest for a new session: protocolVersion 0, lastZxidSeen 0,
// timeout 30000, sessionId 0, 16 zero password bytes, readOnly false.
const connectRequest = Buffer.from(
  `0000002d 00000000 0000000000000000 00007530 0000000000000000 00000010 ${'00'.repeat(16)} 00`.replace(/ /g, ''),
  'hex',
);

function request(xid: number, opcode: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(12);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(xid, 4);
  header.writeInt32BE(opcode, 8);
  return Buffer.concat([header, body]);
}

function ustring(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(4);
  length.writeInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

interface Frame {
  body: Buffer;
}

function frames(data: Buffer): { frames: Frame[]; rest: Buffer } {
  const out: Frame[] = [];
  let offset = 0;
  while (offset + 4 <= data.length) {
    const length = data.readInt32BE(offset);
    if (offset + 4 + length > data.length) break;
    out.push({ body: data.subarray(offset + 4, offset + 4 + length) });
    offset += 4 + length;
  }
  return { frames: out, rest: data.subarray(offset) };
}

function reply(frame: Frame): { xid: number; zxid: bigint; err: number; body: Buffer } {
  return {
    xid: frame.body.readInt32BE(0),
    zxid: frame.body.readBigInt64BE(4),
    err: frame.body.readInt32BE(12),
    body: frame.body.subarray(16),
  };
}

/**
 * Opens a session with a raw ConnectRequest, waits for the ConnectResponse,
 * then sends `payload` and collects what follows until the server closes.
 */
function afterHandshake(payload: Buffer, timeoutMs = 5_000): Promise<{ closedByServer: boolean; extra: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(srv().port, '127.0.0.1', () => socket.write(connectRequest));
    let buffered: Buffer = Buffer.alloc(0);
    let handshakeDone = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedByServer: false, extra: buffered });
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!handshakeDone) {
        const parsed = frames(buffered);
        if (parsed.frames.length === 0) return;
        handshakeDone = true;
        buffered = parsed.rest;
        socket.write(payload);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      if (!handshakeDone) reject(new Error('closed before the ConnectResponse'));
      else resolve({ closedByServer: true, extra: buffered });
    });
  });
}

describe('four-letter words', () => {
  it('ruok answers imok with no newline', async () => {
    expect(await fourLetterWord(srv().port, 'ruok')).toBe('imok');
  });

  it('srvr and stat have the standard lines', async () => {
    const srvr = await fourLetterWord(srv().port, 'srvr');
    expect(srvr).toMatch(/^Zookeeper version: .+\n/);
    for (const line of [/^Latency min\/avg\/max: \d+\/[\d.]+\/\d+$/m, /^Received: \d+$/m, /^Sent: \d+$/m, /^Connections: \d+$/m, /^Outstanding: \d+$/m, /^Zxid: 0x[0-9a-f]+$/m, /^Mode: standalone$/m, /^Node count: \d+$/m]) {
      expect(srvr).toMatch(line);
    }
    const stat = await fourLetterWord(srv().port, 'stat');
    expect(stat).toMatch(/^Zookeeper version: .+\nClients:\n/);
    // One line per connection, including this one, then a blank line.
    expect(stat).toMatch(/^ \/127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+/m);
    expect(stat).toMatch(/\n\nLatency min\/avg\/max: /);
    expect(stat).toMatch(/^Mode: standalone$/m);
  });

  it('mntr is tab-separated zk_ keys', async () => {
    const mntr = await fourLetterWord(srv().port, 'mntr');
    const lines = mntr.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^zk_[a-z0-9_]+\t\S*/);
    const keys = new Map(lines.map((line) => line.split('\t') as [string, string]));
    expect(keys.get('zk_server_state')).toBe('standalone');
    for (const key of ['zk_version', 'zk_avg_latency', 'zk_max_latency', 'zk_min_latency', 'zk_packets_received', 'zk_packets_sent', 'zk_num_alive_connections', 'zk_outstanding_requests', 'zk_znode_count', 'zk_watch_count', 'zk_ephemerals_count', 'zk_approximate_data_size']) {
      expect(keys.has(key), key).toBe(true);
    }
    expect(Number(keys.get('zk_znode_count'))).toBeGreaterThanOrEqual(4);
    expect(Number(keys.get('zk_num_alive_connections'))).toBeGreaterThanOrEqual(1);
  });

  it('conf lists the configuration as key=value', async () => {
    const conf = await fourLetterWord(srv().port, 'conf');
    const entries = new Map(conf.trimEnd().split('\n').map((line) => line.split('=', 2) as [string, string]));
    expect(entries.get('clientPort')).toBe(String(srv().port));
    expect(entries.get('tickTime')).toBe('200');
    expect(entries.get('minSessionTimeout')).toBe('400');
    expect(entries.get('maxSessionTimeout')).toBe('60000');
    expect(entries.get('maxClientCnxns')).toBe('200');
    // ZooKeeper prints the versioned subdirectory (dataDir/version-2).
    expect(entries.get('dataDir')?.startsWith(srv().dataDir)).toBe(true);
    expect(entries.has('serverId')).toBe(true);
  });

  it('isro answers rw on a writable server', async () => {
    expect(await fourLetterWord(srv().port, 'isro')).toBe('rw');
  });

  it('wchs counts watches', async () => {
    const client = bystander;
    if (client === undefined) throw new Error('no bystander');
    await new Promise<void>((resolve, reject) => client.exists('/wchs-probe', () => undefined, (error) => (error ? reject(error) : resolve())));
    const wchs = await fourLetterWord(srv().port, 'wchs');
    const match = /^(\d+) connections watching (\d+) paths\nTotal watches:(\d+)\n?$/.exec(wchs);
    expect(match, wchs).not.toBeNull();
    expect(Number(match?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(match?.[3])).toBeGreaterThanOrEqual(1);
  });

  it('cons lists connections with their session', async () => {
    const cons = await fourLetterWord(srv().port, 'cons');
    expect(cons).toMatch(/^ \/127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+/m);
    expect(cons).toContain(`sid=0x${BigInt(`0x${bystanderSession}`).toString(16)}`);
  });

  it('dump and envi have their section headers', async () => {
    const dump = await fourLetterWord(srv().port, 'dump');
    expect(dump).toMatch(/^SessionTracker dump:/);
    expect(dump).toContain('ephemeral nodes dump:');
    expect(dump).toContain('Connections dump:');
    const envi = await fourLetterWord(srv().port, 'envi');
    expect(envi).toMatch(/^Environment:\n/);
    expect(envi).toMatch(/^zookeeper\.version=.+$/m);
    expect(envi).toMatch(/^host\.name=.+$/m);
  });
});

describe('bad input closes only the offending connection', () => {
  it('answers a valid handshake and a ping (control case)', async () => {
    const { data, closedByServer } = await rawExchange(srv().port, Buffer.concat([connectRequest, request(-2, 11)]), 1_500);
    expect(closedByServer).toBe(false);
    const parsed = frames(data);
    expect(parsed.frames).toHaveLength(2);
    const connectResponse = parsed.frames[0]!.body;
    expect(connectResponse.length).toBe(37);
    expect(connectResponse.readInt32BE(4)).toBe(30_000);
    expect(connectResponse.readBigInt64BE(8)).not.toBe(0n);
    const ping = reply(parsed.frames[1]!);
    expect(ping.xid).toBe(-2);
    expect(ping.err).toBe(0);
  });

  it('closes on garbage bytes (an HTTP request)', async () => {
    const { data, closedByServer } = await rawExchange(srv().port, 'GET / HTTP/1.1\r\nHost: zk\r\n\r\n');
    expect(closedByServer).toBe(true);
    expect(data.length).toBe(0);
    await expectBystanderHealthy();
  });

  it('closes on a length prefix above jute.maxbuffer, before or after the handshake', async () => {
    const before = await rawExchange(srv().port, Buffer.from(`00100000${'00'.repeat(64)}`, 'hex'));
    expect(before.closedByServer).toBe(true);
    expect(before.data.length).toBe(0);
    const negative = await rawExchange(srv().port, Buffer.from('ffffff00', 'hex'));
    expect(negative.closedByServer).toBe(true);
    const after = await afterHandshake(Buffer.from('7fffffff', 'hex'));
    expect(after.closedByServer).toBe(true);
    expect(after.extra.length).toBe(0);
    await expectBystanderHealthy();
  });

  it('closes on a ConnectRequest too short to decode', async () => {
    const { closedByServer, data } = await rawExchange(srv().port, Buffer.from(`0000000a${'ab'.repeat(10)}`, 'hex'));
    expect(closedByServer).toBe(true);
    expect(data.length).toBe(0);
    await expectBystanderHealthy();
  });

  it('closes on a truncated frame followed by end of stream', async () => {
    const result = await new Promise<{ closed: boolean; bytes: number }>((resolve) => {
      const socket = net.connect(srv().port, '127.0.0.1', () => {
        socket.end(connectRequest.subarray(0, 20));
      });
      let bytes = 0;
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ closed: false, bytes });
      }, scaled(5_000));
      socket.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ closed: true, bytes });
      });
    });
    expect(result).toEqual({ closed: true, bytes: 0 });
    await expectBystanderHealthy();
  });

  it('answers an unknown opcode with UNIMPLEMENTED and closes', async () => {
    const { data, closedByServer } = await rawExchange(srv().port, Buffer.concat([connectRequest, request(1, 999)]));
    expect(closedByServer).toBe(true);
    const parsed = frames(data);
    expect(parsed.frames).toHaveLength(2);
    const answer = reply(parsed.frames[1]!);
    expect(answer.xid).toBe(1);
    expect(answer.err).toBe(-6);
    await expectBystanderHealthy();
  });

  it('answers an undecodable request body with MARSHALLINGERROR (ZooKeeper keeps the connection, zkts closes it)', async () => {
    // getData whose path length claims 100 bytes that are not there.
    const bad = request(1, 4, Buffer.from('00000064', 'hex'));
    const good = request(2, 3, Buffer.concat([ustring('/'), Buffer.from([0])]));
    const { data, closedByServer } = await rawExchange(srv().port, Buffer.concat([connectRequest, bad, good]), 1_500);
    const parsed = frames(data);
    const first = reply(parsed.frames[1]!);
    expect([first.xid, first.err]).toEqual([1, -5]);
    if (target === 'zookeeper') {
      expect(closedByServer).toBe(false);
      expect(parsed.frames).toHaveLength(3);
      const second = reply(parsed.frames[2]!);
      expect([second.xid, second.err]).toEqual([2, 0]);
      expect(second.body.length).toBe(68); // one Stat
    } else {
      // zkts treats a packet it cannot decode as bad input: a clear answer, then that one connection closes.
      expect(closedByServer).toBe(true);
      expect(parsed.frames).toHaveLength(2);
    }
    await expectBystanderHealthy();
  });
});
