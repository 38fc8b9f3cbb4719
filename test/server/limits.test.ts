import { afterEach, describe, expect, it, vi } from 'vitest';
import { JuteReader, JuteWriter } from '../../src/protocol/jute.js';
import { ConnectRequestCodec, ConnectResponseCodec, CreateRequestCodec, RequestHeaderCodec, ReplyHeaderCodec, PathWatchRequestCodec } from '../../src/protocol/records.js';
import type { Txn } from '../../src/data/txn.js';
import { connectionQueueMax } from '../../src/server/connection.js';
import { loopWork } from '../../src/loop-work.js';
import type { SinkListener, TxnSink } from '../../src/server/committer.js';
import type { ServerNode } from '../../src/server/node.js';
import { RawConnection, rawExchange, startServer, waitFor } from './harness.js';

function connectFrame(sessionId = 0n, passwd: Buffer = Buffer.alloc(16), timeOut = 4000): Buffer {
  const w = new JuteWriter();
  ConnectRequestCodec.write(w, { protocolVersion: 0, lastZxidSeen: 0n, timeOut, sessionId, passwd, readOnly: false });
  return w.frame();
}

function existsFrame(xid: number, path: string): Buffer {
  const w = new JuteWriter();
  RequestHeaderCodec.write(w, { xid, type: 3 });
  PathWatchRequestCodec.write(w, { path, watch: false });
  return w.frame();
}

function createFrame(xid: number, path: string): Buffer {
  const w = new JuteWriter();
  RequestHeaderCodec.write(w, { xid, type: 1 });
  CreateRequestCodec.write(w, { path, data: Buffer.alloc(8), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 });
  return w.frame();
}

/** A sink whose txns become durable only while its gate is open (a very slow disk). */
class GatedSink implements TxnSink {
  private listener: SinkListener | null = null;
  private held = 0n;
  open = true;

  listen(listener: SinkListener): void {
    this.listener = listener;
  }

  append(txn: Txn): void {
    this.appendPayload(txn.zxid);
  }

  appendPayload(zxid: bigint): void {
    this.held = zxid;
    if (this.open) queueMicrotask(() => this.listener!.durable(zxid, 1));
  }

  release(): void {
    this.open = true;
    this.listener!.durable(this.held, 1);
  }
}

async function session(server: ServerNode, timeOut = 4000): Promise<{ conn: RawConnection; sessionId: bigint; passwd: Buffer; timeOut: number }> {
  const conn = await RawConnection.open(server.port);
  conn.send(connectFrame(0n, Buffer.alloc(16), timeOut));
  await waitFor('ConnectResponse', () => conn.frames.length >= 1);
  const res = ConnectResponseCodec.read(new JuteReader(conn.frames[0]!));
  return { conn, sessionId: res.sessionId, passwd: res.passwd, timeOut: res.timeOut };
}

describe('server limits and sessions', () => {
  let server: ServerNode | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  it('refuses connections from one address beyond maxClientCnxns and serves the others', async () => {
    server = await startServer({ maxClientCnxns: 3 });
    const open = await Promise.all([1, 2, 3].map(() => session(server!)));
    const fourth = await RawConnection.open(server.port);
    await waitFor('the fourth connection to be closed', () => fourth.closed);
    expect(server.stats.refusedConnections).toBe(1);
    open[0]!.conn.send(existsFrame(1, '/zookeeper'));
    await waitFor('a reply on an admitted connection', () => open[0]!.conn.frames.length >= 2);
    expect(ReplyHeaderCodec.read(new JuteReader(open[0]!.conn.frames[1]!)).err).toBe(0);
    open[2]!.conn.close();
    await waitFor('the server to see the close', () => server!.connections.size === 2);
    const again = await session(server);
    expect(again.sessionId).not.toBe(0n);
    for (const s of [...open, again]) s.conn.close();
  });

  it('stops reading from a connection with a full request queue, and reads on as it drains', async () => {
    const sink = new GatedSink();
    server = await startServer({}, { sink });
    const { conn } = await session(server);
    sink.open = false;
    // Far more than one read of the socket holds: a client pipelining writes to a slow disk.
    const total = 5000;
    conn.send(Buffer.concat(Array.from({ length: total }, (_, i) => createFrame(i + 1, `/n${i}`))));
    const [serverSide] = [...server.connections];
    // Nothing completes while the disk is held. Reading stops after the read that filled the
    // queue: the socket is paused and no frames wait for a turn, so nothing more can be read
    // until a reply goes out (without the limit every request is read and queued at once).
    await waitFor('reading to stop with a full queue', () =>
      serverSide!.readingPaused && !loopWork.isScheduled(serverSide!) && serverSide!.queuedRequests >= connectionQueueMax,
    );
    const queued = serverSide!.queuedRequests;
    expect(queued).toBeGreaterThanOrEqual(connectionQueueMax);
    expect(queued).toBeLessThan(total / 2);
    expect(conn.frames.length).toBe(1); // the ConnectResponse only
    sink.release();
    await waitFor('every reply', () => conn.frames.length === 1 + total, { timeoutMs: 20_000 });
    const xids = conn.frames.slice(1).map((f) => ReplyHeaderCodec.read(new JuteReader(f)));
    expect(xids.every((h, i) => h.xid === i + 1 && h.err === 0)).toBe(true);
    conn.close();
  });

  it('refuses connections beyond maxCnxns from any address, and admits one again when another closes', async () => {
    server = await startServer({ maxCnxns: 2, maxClientCnxns: 0 });
    const first = await session(server);
    // Another loopback address: the per-address limit (off here) is not what refuses it.
    const second = await RawConnection.open(server.port, '127.0.0.2');
    const third = await RawConnection.open(server.port, '127.0.0.3');
    await waitFor('the third connection to be closed', () => third.closed);
    expect(server.stats.refusedConnections).toBe(1);
    expect(second.closed).toBe(false);
    first.conn.close();
    await waitFor('the server to free the slot', () => server!.ports[0]!.connections === 1);
    const again = await session(server);
    expect(again.sessionId).not.toBe(0n);
    second.close();
    again.conn.close();
  });

  it('stops reading from every connection while it holds globalOutstandingLimit requests, and answers all of them in order', async () => {
    const limit = 20;
    const sink = new GatedSink();
    server = await startServer({ globalOutstandingLimit: limit }, { sink });
    const requestLimit = server.requestLimit;
    let held = 0;
    const take = requestLimit.take.bind(requestLimit);
    vi.spyOn(requestLimit, 'take').mockImplementation(() => {
      take();
      held = Math.max(held, requestLimit.count);
    });
    const pipelining = await session(server);
    const interactive = await session(server);
    sink.open = false;
    // Fewer than one connection's own queue limit: the global limit is what stops it.
    const total = 500;
    expect(limit).toBeLessThan(connectionQueueMax);
    pipelining.conn.send(Buffer.concat(Array.from({ length: total }, (_, i) => createFrame(i + 1, `/g${i}`))));
    await waitFor('the server to hold its limit', () => requestLimit.count === limit && requestLimit.waiting === 1);
    const [pipeSide, interactiveSide] = [...server.connections];
    expect(pipeSide!.readingPaused).toBe(true);
    // A read from another connection is not taken in while the server is at its limit.
    interactive.conn.send(existsFrame(1, '/zookeeper'));
    await waitFor('the interactive connection to wait its turn', () => requestLimit.waiting === 2 && interactiveSide!.readingPaused);
    expect(interactive.conn.frames.length).toBe(1);
    sink.release();
    await waitFor('every reply', () => pipelining.conn.frames.length === 1 + total && interactive.conn.frames.length === 2, { timeoutMs: 20_000 });
    const replies = pipelining.conn.frames.slice(1).map((f) => ReplyHeaderCodec.read(new JuteReader(f)));
    expect(replies.every((h, i) => h.xid === i + 1 && h.err === 0)).toBe(true);
    expect(ReplyHeaderCodec.read(new JuteReader(interactive.conn.frames[1]!)).err).toBe(0);
    // Reached, never exceeded: what the client sent beyond it waited in the socket.
    expect(held).toBe(limit);
    expect(requestLimit.count).toBe(0);
    pipelining.conn.close();
    interactive.conn.close();
  });

  it('replies in order when the sink reports a write durable inside append', async () => {
    // A sink that reports each txn durable inside append: the apply still waits for a turn
    // of loopWork, the report must not run the apply stage inside the connection's start of
    // the write, and a read queued behind it waits for the write's reply.
    let listener: SinkListener | null = null;
    const instant: TxnSink = {
      listen: (l) => {
        listener = l;
      },
      append: (txn: Txn) => listener!.durable(txn.zxid, 1),
      appendPayload: (zxid: bigint) => listener!.durable(zxid, 1),
    };
    server = await startServer({}, { sink: instant });
    const { conn } = await session(server);
    conn.send(Buffer.concat([createFrame(1, '/a'), existsFrame(2, '/a'), createFrame(3, '/b'), createFrame(4, '/a'), existsFrame(5, '/b')]));
    await waitFor('five replies', () => conn.frames.length === 6);
    const replies = conn.frames.slice(1).map((f) => ReplyHeaderCodec.read(new JuteReader(f)));
    expect(replies.map((h) => [h.xid, h.err])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
      [4, -110], // NODEEXISTS
      [5, 0],
    ]);
    conn.close();
  });

  it('answers an interactive read at once and asks for a short turn; holds a pipelining client\'s replies until the turn\'s work runs out', async () => {
    const sink = new GatedSink();
    server = await startServer({}, { sink });
    const { conn } = await session(server);
    const shorten = vi.spyOn(loopWork, 'shortenNextTurn');
    const deferred = vi.spyOn(loopWork, 'afterWork');
    try {
      // One request: handled as it is read (not in a turn), its reply on the next tick.
      conn.send(existsFrame(1, '/zookeeper'));
      await waitFor('the exists reply', () => conn.frames.length === 2);
      expect(shorten).toHaveBeenCalled();
      expect(deferred).not.toHaveBeenCalled();
      shorten.mockClear();
      // A burst of writes: read in turns; applied in turns with more of them queued, so the
      // replies wait (afterWork) and leave together.
      sink.open = false;
      const total = 40;
      conn.send(Buffer.concat(Array.from({ length: total }, (_, i) => createFrame(i + 2, `/burst${i}`))));
      const [serverSide] = [...server.connections];
      await waitFor('the burst to be queued', () => serverSide!.queuedRequests === total);
      expect(shorten).not.toHaveBeenCalled();
      sink.release();
      await waitFor('every reply', () => conn.frames.length === 2 + total);
      expect(deferred).toHaveBeenCalled();
      const replies = conn.frames.slice(2).map((f) => ReplyHeaderCodec.read(new JuteReader(f)));
      expect(replies.every((h, i) => h.xid === i + 2 && h.err === 0)).toBe(true);
    } finally {
      shorten.mockRestore();
      deferred.mockRestore();
      conn.close();
    }
  });

  it('clamps the session timeout to [min, max]', async () => {
    server = await startServer({ tickTime: 100, minSessionTimeout: 300, maxSessionTimeout: 900 });
    const low = await session(server, 10);
    const high = await session(server, 100_000);
    expect([low.timeOut, high.timeOut]).toEqual([300, 900]);
    low.conn.close();
    high.conn.close();
  });

  it('expires a silent session, closes its connection, and refuses to resume it', async () => {
    server = await startServer({ tickTime: 100, minSessionTimeout: 300, maxSessionTimeout: 900 });
    const s = await session(server, 300);
    await waitFor('the session to expire', () => !server!.tree.sessions.has(s.sessionId), { timeoutMs: 5000 });
    await waitFor('its connection to close', () => s.conn.closed, { timeoutMs: 5000 });
    const retry = await RawConnection.open(server.port);
    retry.send(connectFrame(s.sessionId, s.passwd));
    await waitFor('the invalid-session reply', () => retry.frames.length >= 1 && retry.closed);
    const res = ConnectResponseCodec.read(new JuteReader(retry.frames[0]!));
    expect([res.timeOut, res.sessionId]).toEqual([0, 0n]);
  });

  it('resumes a live session on a new connection with the right password only', async () => {
    server = await startServer({ tickTime: 100 });
    const s = await session(server, 4000);
    const wrong = await RawConnection.open(server.port);
    wrong.send(connectFrame(s.sessionId, Buffer.alloc(16, 7)));
    await waitFor('the wrong password to be refused', () => wrong.frames.length >= 1);
    expect(ConnectResponseCodec.read(new JuteReader(wrong.frames[0]!)).timeOut).toBe(0);
    const right = await RawConnection.open(server.port);
    right.send(connectFrame(s.sessionId, s.passwd));
    await waitFor('the resume to be accepted', () => right.frames.length >= 1);
    expect(ConnectResponseCodec.read(new JuteReader(right.frames[0]!)).sessionId).toBe(s.sessionId);
    right.close();
    s.conn.close();
  });

  it('closes a connection that announces a frame beyond jute.maxbuffer and keeps serving', async () => {
    server = await startServer({ 'jute.maxbuffer': 4096 });
    const big = Buffer.alloc(4);
    big.writeInt32BE(4097);
    // rawExchange resolves only once the server has closed the connection.
    await rawExchange(server.port, Buffer.concat([connectFrame(), big]));
    await waitFor('the refused connection to be forgotten', () => server!.connections.size === 0);
    const ok = await session(server);
    expect(ok.sessionId).not.toBe(0n);
    ok.conn.close();
  });
});
