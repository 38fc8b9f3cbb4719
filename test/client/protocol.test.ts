// Client behaviour at the byte level, against a scripted fake server (no JVM needed).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, parseConnectString, type ZooKeeperClient } from '../../src/client/index.js';
import { setWatchesBatches } from '../../src/client/set-watches.js';
import { WatchRegistry } from '../../src/client/watch-registry.js';
import { FrameDecoder, JuteReader, JuteWriter, OpCode } from '../../src/protocol/index.js';
import { ConnectRequestCodec, ConnectResponseCodec, ReplyHeaderCodec, RequestHeaderCodec, type ConnectRequest } from '../../src/protocol/records.js';
import { expectCode } from './helpers.js';
import { waitFor } from './servers.js';
import { scaled } from '../../src/testing/wait.js';

type Behaviour = 'close-on-connect' | 'serve' | 'swap-replies';

/** A fake server: records ConnectRequests and request headers; replies per behaviour. */
class FakeServer {
  readonly connects: ConnectRequest[] = [];
  readonly requests: { xid: number; type: number; at: number }[] = [];
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly behaviour: Behaviour, private readonly timeout = 3000) {}

  async start(): Promise<this> {
    this.server = net.createServer((s) => this.accept(s));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(1 << 20);
    let handshaken = false;
    let held: { xid: number } | null = null;
    socket.on('data', (chunk) => {
      for (const body of decoder.push(chunk)) {
        if (!handshaken) {
          this.connects.push(ConnectRequestCodec.read(new JuteReader(body)));
          if (this.behaviour === 'close-on-connect') {
            socket.destroy();
            return;
          }
          handshaken = true;
          const w = new JuteWriter();
          ConnectResponseCodec.write(w, { protocolVersion: 0, timeOut: this.timeout, sessionId: 0x77n, passwd: Buffer.alloc(16, 1), readOnly: false });
          socket.write(w.frame());
          continue;
        }
        const header = RequestHeaderCodec.read(new JuteReader(body));
        this.requests.push({ ...header, at: Date.now() });
        const reply = (xid: number): void => {
          const w = new JuteWriter();
          ReplyHeaderCodec.write(w, { xid, zxid: 5n, err: -101 });
          socket.write(w.frame());
        };
        if (header.type === OpCode.ping) reply(-2);
        else if (this.behaviour === 'swap-replies' && held === null) held = header;
        else if (this.behaviour === 'swap-replies' && held !== null) {
          reply(header.xid);
          reply(held.xid);
          held = null;
        } else reply(header.xid);
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

describe('client protocol details (fake server)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });
  function track(client: ZooKeeperClient): ZooKeeperClient {
    cleanup.push(() => client.close());
    return client;
  }
  async function fake(b: Behaviour, timeout?: number): Promise<FakeServer> {
    const f = await new FakeServer(b, timeout).start();
    cleanup.push(() => f.close());
    return f;
  }

  it('sends a 45-byte ConnectRequest with the requested timeout and readOnly flag', async () => {
    const f = await fake('serve');
    const client = track(createClient(`127.0.0.1:${f.port}`, { sessionTimeout: 12345, canBeReadOnly: true }));
    await client.connect();
    expect(f.connects).toHaveLength(1);
    expect(f.connects[0]).toMatchObject({ protocolVersion: 0, lastZxidSeen: 0n, timeOut: 12345, sessionId: 0n, readOnly: true });
    expect(f.connects[0]!.passwd).toEqual(Buffer.alloc(16));
    expect(client.sessionId).toBe(0x77n);
    expect(client.sessionTimeout).toBe(3000);
  });

  it('skips a server that closes without replying and connects to the next one', async () => {
    const closer = await fake('close-on-connect');
    const good = await fake('serve');
    const client = track(createClient(`127.0.0.1:${closer.port},127.0.0.1:${good.port}`, { shuffleHosts: false }));
    await client.connect();
    expect(closer.connects).toHaveLength(1);
    expect(client.currentServer).toBe(`127.0.0.1:${good.port}`);
  });

  it('treats an out-of-order reply xid as a connection error', async () => {
    const f = await fake('swap-replies');
    const client = track(createClient(`127.0.0.1:${f.port}`, { reconnectDelay: { min: 10, max: 20 } }));
    await client.connect();
    const a = client.exists('/a');
    const b = client.exists('/b');
    await expectCode(a, 'CONNECTIONLOSS');
    await expectCode(b, 'CONNECTIONLOSS');
    await waitFor('reconnect after the bad reply', () => f.connects.length >= 2);
    // The resumed session carries the id and password the server gave.
    expect(f.connects[1]!.sessionId).toBe(0x77n);
    expect(f.connects[1]!.passwd).toEqual(Buffer.alloc(16, 1));
  });

  it('sends requests made in one tick in one socket write', async () => {
    const f = await fake('serve');
    const client = track(createClient(`127.0.0.1:${f.port}`));
    await client.connect();
    // Count the client socket's trips to the kernel: Writable's _write (one buffer) and
    // _writev (a corked batch), called only for the socket connected to the fake server.
    const proto = net.Socket.prototype as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const original = { write: proto._write, writev: proto._writev };
    let trips = 0;
    proto._write = function (this: net.Socket, ...a: unknown[]) {
      if (this.remotePort === f.port) trips++;
      return original.write.apply(this, a);
    };
    proto._writev = function (this: net.Socket, ...a: unknown[]) {
      if (this.remotePort === f.port) trips++;
      return original.writev.apply(this, a);
    };
    try {
      const before = f.requests.length;
      const calls = Array.from({ length: 50 }, (_, i) => client.exists(`/n${i}`).catch(() => undefined));
      await Promise.all(calls);
      expect(f.requests.length - before).toBe(50);
      expect(trips).toBe(1);
    } finally {
      proto._write = original.write;
      proto._writev = original.writev;
    }
  });

  it('pings at about a third of the negotiated timeout when idle', async () => {
    const f = await fake('serve', 900);
    const client = track(createClient(`127.0.0.1:${f.port}`));
    await client.connect();
    const start = Date.now();
    await waitFor('three pings', () => f.requests.filter((r) => r.type === OpCode.ping).length >= 3, { timeoutMs: 3000 });
    const pings = f.requests.filter((r) => r.type === OpCode.ping);
    expect(pings.every((p) => p.xid === -2)).toBe(true);
    const elapsed = pings[2]!.at - start;
    expect(elapsed).toBeGreaterThanOrEqual(800);
    expect(elapsed).toBeLessThan(scaled(1500));
  });

  it('parses connect strings with several hosts, IPv6 and a chroot', () => {
    expect(parseConnectString('h1:2181,h2:2182/app/x')).toEqual({
      hosts: [{ host: 'h1', port: 2181 }, { host: 'h2', port: 2182 }],
      chroot: '/app/x',
    });
    expect(parseConnectString('[::1]:3000,h3')).toEqual({ hosts: [{ host: '::1', port: 3000 }, { host: 'h3', port: 2181 }], chroot: '' });
    expect(() => parseConnectString('h1:notaport')).toThrow(/invalid port/);
    expect(() => parseConnectString('h1/bad/')).toThrow(/Invalid path/);
  });

  it('shuffles hosts unless asked to keep the order', () => {
    const many = Array.from({ length: 8 }, (_, i) => `h${i}:1`).join(',');
    const kept = createClient(many, { shuffleHosts: false }).hosts.map((h) => h.host);
    expect(kept).toEqual(Array.from({ length: 8 }, (_, i) => `h${i}`));
    const orders = new Set(Array.from({ length: 5 }, () => createClient(many).hosts.map((h) => h.host).join()));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('splits SetWatches into batches of about 128 KB of paths', () => {
    const long = Array.from({ length: 3000 }, (_, i) => `/${'x'.repeat(100)}/${i}`);
    const batches = setWatchesBatches({ data: long, exist: ['/e'], child: [], persistent: [], persistentRecursive: ['/r'] }, 42n);
    expect(batches.length).toBe(3);
    expect(batches.every((b) => b.relativeZxid === 42n)).toBe(true);
    expect(batches.flatMap((b) => b.dataWatches)).toEqual(long);
    expect(batches.at(-1)!.existWatches).toEqual(['/e']);
    expect(batches.at(-1)!.persistentRecursiveWatches).toEqual(['/r']);
  });

  it('materializes one-shot watches once and keeps persistent ones', () => {
    const reg = new WatchRegistry();
    const calls: string[] = [];
    const l1 = (): number => calls.push('l1');
    const l2 = (): number => calls.push('l2');
    const rec = (): number => calls.push('rec');
    reg.add('data', '/a/b', l1);
    reg.add('exist', '/a/b', l2);
    reg.add('child', '/a/b', l1);
    reg.add('persistentRecursive', '/a', rec);
    expect(reg.materialize('NodeDataChanged', '/a/b')).toEqual(new Set([l1, l2, rec]));
    expect(reg.materialize('NodeDataChanged', '/a/b')).toEqual(new Set([rec]));
    expect(reg.materialize('NodeChildrenChanged', '/a/b')).toEqual(new Set([l1]));
    expect(reg.materialize('NodeChildrenChanged', '/a')).toEqual(new Set());
    expect(reg.materialize('NodeDeleted', '/a/b/c')).toEqual(new Set([rec]));
  });
});
