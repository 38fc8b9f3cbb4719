// The TCP proxy and its toxics, between real sockets: a client, the proxy, and a small server
// that echoes or answers on command. What each toxic does to a ZooKeeper client is shown by
// test/testing/*.test.ts; this file pins the byte-level behaviour.
import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../src/faults/index.js';
import { waitFor } from '../support/wait.js';

interface Upstream {
  server: net.Server;
  port: number;
  sockets: net.Socket[];
  received: Buffer[];
  close(): Promise<void>;
}

/** A server that echoes what it gets (unless told not to) and remembers its connections. */
async function upstream(options: { echo?: boolean } = {}): Promise<Upstream> {
  const sockets: net.Socket[] = [];
  const received: Buffer[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (options.echo !== false) socket.write(chunk);
    });
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Client {
  socket: net.Socket;
  data: Buffer[];
  text(): string;
  ended: boolean;
  error: NodeJS.ErrnoException | null;
  closed: boolean;
}

/** A client socket; with `settle`, resolves once it connected or failed (a reset may beat the connect callback). */
async function connect(port: number, settle = false): Promise<Client> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const client: Client = { socket, data: [], text: () => Buffer.concat(client.data).toString(), ended: false, error: null, closed: false };
  socket.on('data', (chunk: Buffer) => client.data.push(chunk));
  socket.on('end', () => (client.ended = true));
  socket.on('error', (error) => (client.error = error));
  socket.on('close', () => (client.closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', settle ? () => resolve() : reject);
  });
  return client;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(options: { echo?: boolean; bufferBytesMax?: number } = {}): Promise<{ server: Upstream; proxy: TcpProxy }> {
  const server = await upstream(options);
  const proxy = await TcpProxy.start({ upstream: { port: server.port }, seed: 7, bufferBytesMax: options.bufferBytesMax });
  cleanups.push(() => server.close(), () => proxy.close());
  return { server, proxy };
}

async function roundTrip(client: Client, text: string): Promise<number> {
  const before = client.text().length;
  const start = performance.now();
  client.socket.write(text);
  await waitFor(`echo of ${text}`, () => client.text().length >= before + text.length, { intervalMs: 1 });
  return performance.now() - start;
}

describe('TcpProxy', () => {
  it('forwards bytes both ways and passes a half-close on in order behind the data', async () => {
    const { server, proxy } = await rig();
    const client = await connect(proxy.port);
    await roundTrip(client, 'hello');
    client.socket.end('last words');
    await waitFor('the server to see the end', () => Buffer.concat(server.received).toString() === 'hellolast words');
    await waitFor('the echo and the server’s end', () => client.ended && client.text() === 'hellolast words');
    await waitFor('the proxy to forget the connection', () => proxy.openConnections === 0);
    expect(proxy.accepted).toBe(1);
  });

  it('latency delays each chunk downstream by default, both ways when asked, and keeps order under jitter', async () => {
    const { proxy } = await rig();
    const client = await connect(proxy.port);
    proxy.latency(150);
    expect(await roundTrip(client, 'a')).toBeGreaterThanOrEqual(145);
    proxy.latency(150, 0, 'both');
    expect(await roundTrip(client, 'b')).toBeGreaterThanOrEqual(295);
    proxy.heal();
    proxy.latency(30, 30, 'both');
    const expected = Array.from({ length: 40 }, (_, i) => `<${i}>`).join('');
    for (let i = 0; i < 40; i++) {
      client.socket.write(`<${i}>`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor('every chunk back', () => client.text().length >= 2 + expected.length);
    expect(client.text()).toBe(`ab${expected}`);
  });

  it('bandwidth limits each connection to the rate asked for', async () => {
    const { proxy } = await rig();
    const client = await connect(proxy.port);
    proxy.bandwidth(100); // KiB/s, downstream: the echo comes back at this rate
    const payload = 'x'.repeat(60 * 1024);
    const elapsed = await roundTrip(client, payload);
    // 60 KiB at 100 KiB/s, less the first burst of 5 KiB.
    expect(elapsed).toBeGreaterThanOrEqual(((60 - 5) / 100) * 1000 - 20);
    expect(client.text()).toBe(payload);
  });

  it('drop 100 resets the connection with its first chunk; drop 0 loses nothing', async () => {
    const { proxy } = await rig();
    const victim = await connect(proxy.port);
    proxy.drop(100, 'upstream');
    victim.socket.write('lost');
    await waitFor('the reset', () => victim.closed);
    expect(victim.error?.code).toBe('ECONNRESET');
    proxy.drop(0, 'upstream');
    const fine = await connect(proxy.port);
    await roundTrip(fine, 'kept');
    expect(fine.text()).toBe('kept');
  });

  it('drop 50 resets about half the connections, the same ones for the same seed', async () => {
    const outcomes: boolean[][] = [];
    for (let run = 0; run < 2; run++) {
      const { proxy } = await rig();
      proxy.drop(50, 'upstream');
      const survived: boolean[] = [];
      for (let i = 0; i < 40; i++) {
        const c = await connect(proxy.port);
        c.socket.write('x');
        await waitFor('echo or reset', () => c.closed || c.text() === 'x');
        survived.push(!c.closed);
        c.socket.destroy();
      }
      outcomes.push(survived);
    }
    const resets = outcomes[0]!.filter((ok) => !ok).length;
    expect(resets).toBeGreaterThan(5);
    expect(resets).toBeLessThan(35);
    expect(outcomes[1]).toEqual(outcomes[0]);
  });

  it('blackhole holds everything, closes included: the client hears silence on an open connection, and heal delivers what was held', async () => {
    const { server, proxy } = await rig({ echo: false });
    const client = await connect(proxy.port);
    await waitFor('the server connection', () => server.sockets.length === 1);
    proxy.blackhole();
    client.socket.write('request');
    server.sockets[0]!.end('reply then close');
    await waitFor('the proxy to hold both', () => proxy.heldBytes === 'request'.length + 'reply then close'.length);
    expect(server.received).toEqual([]);
    expect(client.data).toEqual([]);
    expect(client.ended || client.closed).toBe(false);
    // A connection made during the blackhole is accepted but not opened upstream.
    const late = await connect(proxy.port);
    late.socket.write('late');
    await waitFor('the late bytes held', () => proxy.heldBytes === 'request'.length + 'reply then close'.length + 4);
    expect(server.sockets).toHaveLength(1);
    proxy.heal();
    await waitFor('the held reply and then the close', () => client.text() === 'reply then close' && client.ended);
    await waitFor('the held request and the late connection', () => Buffer.concat(server.received).toString().includes('request') && server.sockets.length === 2);
    await waitFor('the late bytes', () => Buffer.concat(server.received).toString().includes('late'));
  });

  it('a one-way blackhole passes requests and holds replies', async () => {
    const { server, proxy } = await rig();
    const client = await connect(proxy.port);
    proxy.blackhole('downstream');
    client.socket.write('ping');
    await waitFor('the request at the server', () => Buffer.concat(server.received).toString() === 'ping');
    await waitFor('the reply held', () => proxy.heldBytes === 4);
    expect(client.data).toEqual([]);
    proxy.heal();
    await waitFor('the reply', () => client.text() === 'ping');
  });

  it('a blackhole bounds what it holds: beyond the bound it stops reading, and nothing is lost', async () => {
    const bufferBytesMax = 256 * 1024;
    const { server, proxy } = await rig({ echo: false, bufferBytesMax });
    const client = await connect(proxy.port);
    await waitFor('the server connection', () => server.sockets.length === 1);
    proxy.blackhole('upstream');
    const payload = Buffer.alloc(8 * 1024 * 1024, 0);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i);
    client.socket.write(payload);
    await waitFor('the proxy to stop reading', () => proxy.heldBytes > bufferBytesMax && client.socket.writableLength > 0);
    // Let whatever the kernel buffers drain into the proxy; it must not take more than a read past the bound.
    await waitFor('the held bytes to settle', async () => {
      const before = proxy.heldBytes;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return proxy.heldBytes === before;
    });
    expect(proxy.heldBytes).toBeLessThanOrEqual(bufferBytesMax + 64 * 1024);
    proxy.heal();
    await waitFor('every byte at the server', () => server.received.reduce((n, b) => n + b.length, 0) === payload.length, { timeoutMs: 20_000 });
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(digest(Buffer.concat(server.received))).toBe(digest(payload));
  });

  it('reset cuts every connection and refuses new ones with a reset until healed; cut resets only the open ones', async () => {
    const { proxy } = await rig();
    const open = await connect(proxy.port);
    proxy.reset();
    await waitFor('the open connection reset', () => open.closed);
    expect(open.error?.code).toBe('ECONNRESET');
    const refused = await connect(proxy.port, true);
    await waitFor('the new connection reset', () => refused.closed);
    expect(refused.error?.code).toBe('ECONNRESET');
    proxy.heal();
    const after = await connect(proxy.port);
    await roundTrip(after, 'back');
    proxy.cut();
    await waitFor('cut', () => after.closed);
    const next = await connect(proxy.port);
    await roundTrip(next, 'still served');
  });

  it('a server that refuses the connection shows as a reset to the client', async () => {
    const { server, proxy } = await rig();
    await server.close();
    const client = await connect(proxy.port);
    await waitFor('the reset', () => client.closed);
    expect(client.error?.code).toBe('ECONNRESET');
  });

  it('retarget sends later connections to another server', async () => {
    const { proxy } = await rig({ echo: false });
    const other = await upstream();
    cleanups.push(() => other.close());
    proxy.retarget(other.port);
    const client = await connect(proxy.port);
    await roundTrip(client, 'elsewhere');
    expect(Buffer.concat(other.received).toString()).toBe('elsewhere');
  });

  it('listenAlso fronts a second upstream under the same toxics, counts and close', async () => {
    const { server, proxy } = await rig({ echo: false });
    const other = await upstream();
    cleanups.push(() => other.close());
    const address = await proxy.listenAlso({ upstream: { port: other.port } });
    const port = Number(address.split(':')[1]);
    const client = await connect(port);
    await roundTrip(client, 'second');
    expect(Buffer.concat(other.received).toString()).toBe('second');
    expect(server.received).toEqual([]);
    expect(proxy.accepted).toBe(1);
    proxy.blackhole();
    client.socket.write('held');
    await waitFor('the proxy to hold the bytes', () => proxy.heldBytes === 4);
    expect(Buffer.concat(other.received).toString()).toBe('second');
    proxy.heal();
    await waitFor('the held bytes to arrive', () => Buffer.concat(other.received).toString() === 'secondheld');
    await proxy.close();
    const refused = await connect(port, true);
    expect(refused.error?.code).toBe('ECONNREFUSED');
  });

  it('refuses toxic values out of range, naming them', () => {
    return rig().then(({ proxy }) => {
      expect(() => proxy.latency(-1)).toThrow(/latency ms must be a number from 0/);
      expect(() => proxy.drop(101)).toThrow(/drop percent/);
      expect(() => proxy.bandwidth(Number.NaN)).toThrow(/bandwidth KiB\/s/);
      expect(() => proxy.blackhole('sideways' as never)).toThrow(/direction must be/);
    });
  });
});
