import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpCode } from '../../src/protocol/constants.js';
import { JuteReader } from '../../src/protocol/jute.js';
import {
  ConnectRequestCodec,
  ConnectResponseCodec,
  ReplyHeaderCodec,
  WatcherEventCodec,
} from '../../src/protocol/records.js';
import { JuteWriter } from '../../src/protocol/jute.js';
import type { ServerNode } from '../../src/server/node.js';
import { loadVectors, type VectorFrame, type VectorScenario } from '../vectors.js';
import { RawConnection, rawExchange, startServer, waitFor } from './harness.js';

// Replays every scenario recorded against ZooKeeper 3.8, in the recorded order, against one
// zkts server, and compares each reply with ZooKeeper's: xid, error code, and the decoded
// body with run-specific values (times, session ids, zxids inside Stats) masked.

const vectors = loadVectors();
const runSpecificStatFields = ['czxid', 'mzxid', 'pzxid', 'ctime', 'mtime', 'ephemeralOwner'];

function mask(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(mask);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'string' ? value.replace(/\d{10}$/, '<seq>') : value;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (runSpecificStatFields.includes(k) || k === 'zxid' || k === 'hex') continue;
    out[k] = mask(v);
  }
  return out;
}

/** A reply body decoded the way the recorder did it: our own fields, compared after masking. */
function describeReply(frame: Buffer, op: string | undefined): unknown {
  const r = new JuteReader(frame);
  const header = ReplyHeaderCodec.read(r);
  if (header.xid === -1) return { xid: -1, err: header.err, event: WatcherEventCodec.read(r) };
  return { xid: header.xid, err: header.err, op, bodyBytes: r.remaining };
}

interface Replay {
  conns: Map<number, RawConnection>;
  expected: Map<number, VectorFrame[]>;
}

class ScenarioReplay {
  private readonly conns = new Map<number, RawConnection>();
  private readonly expected = new Map<number, VectorFrame[]>();
  private readonly sessions: Map<string, { id: bigint; passwd: Buffer; recordedPasswd: string }>;
  private readonly zxids: [bigint, bigint][];
  readonly mismatches: string[] = [];

  constructor(
    private readonly server: ServerNode,
    private readonly scenario: VectorScenario,
    shared: { sessions: ScenarioReplay['sessions']; zxids: [bigint, bigint][] },
  ) {
    this.sessions = shared.sessions;
    this.zxids = shared.zxids;
  }

  private async conn(n: number): Promise<RawConnection> {
    let c = this.conns.get(n);
    if (c === undefined) {
      c = await RawConnection.open(this.server.port);
      this.conns.set(n, c);
      this.expected.set(n, []);
    }
    return c;
  }

  /** Our zxid for the newest recorded zxid at or below z. */
  private mapZxid(z: bigint): bigint {
    let best = 0n;
    for (const [theirs, ours] of this.zxids) if (theirs <= z && ours > best) best = ours;
    return best;
  }

  /** Learns our session id for each recorded one from the ConnectResponses received so far. */
  private learnSessions(): void {
    for (const [n, c] of this.conns) {
      const expected = this.expected.get(n)!;
      for (let i = 0; i < Math.min(expected.length, c.frames.length); i++) {
        if (expected[i]!.decoded.kind !== 'ConnectResponse') continue;
        const ours = ConnectResponseCodec.read(new JuteReader(c.frames[i]!));
        const theirs = ConnectResponseCodec.read(new JuteReader(Buffer.from(expected[i]!.hex, 'hex').subarray(4)));
        if (theirs.sessionId === 0n) continue;
        this.sessions.set(theirs.sessionId.toString(16).padStart(16, '0'), { id: ours.sessionId, passwd: ours.passwd, recordedPasswd: theirs.passwd.toString('hex') });
      }
    }
  }

  private rewriteConnect(hex: string): Buffer {
    this.learnSessions();
    const body = Buffer.from(hex, 'hex').subarray(4);
    const req = ConnectRequestCodec.read(new JuteReader(body));
    const key = req.sessionId.toString(16).padStart(16, '0');
    const known = this.sessions.get(key);
    if (known !== undefined) {
      const rightPassword = req.passwd.toString('hex') === known.recordedPasswd;
      req.sessionId = known.id;
      if (rightPassword) req.passwd = known.passwd;
    }
    this.learnZxids();
    req.lastZxidSeen = this.mapZxid(req.lastZxidSeen);
    const w = new JuteWriter();
    ConnectRequestCodec.write(w, req);
    return w.frame();
  }

  /** Session ids, passwords and zxids in client frames refer to ZooKeeper's run: map them to ours. */
  private rewrite(f: VectorFrame): Buffer {
    if (f.decoded.kind === 'ConnectRequest') return this.rewriteConnect(f.hex);
    const bytes = Buffer.from(f.hex, 'hex');
    if (f.decoded.kind === 'Request' && (f.decoded.type === OpCode.setWatches || f.decoded.type === OpCode.setWatches2)) {
      this.learnZxids();
      // relativeZxid sits right after the length, xid and type.
      bytes.writeBigInt64BE(this.mapZxid(bytes.readBigInt64BE(12)), 12);
    }
    return bytes;
  }

  private learnZxids(): void {
    for (const [n, c] of this.conns) {
      const expected = this.expected.get(n)!;
      for (let i = 0; i < Math.min(expected.length, c.frames.length); i++) {
        if (expected[i]!.decoded.kind !== 'Reply') continue;
        const ours = ReplyHeaderCodec.read(new JuteReader(c.frames[i]!));
        const theirs = ReplyHeaderCodec.read(new JuteReader(Buffer.from(expected[i]!.hex, 'hex').subarray(4)));
        if (theirs.zxid > 0n && ours.zxid > 0n) this.zxids.push([theirs.zxid, ours.zxid]);
      }
    }
  }

  async run(): Promise<void> {
    const frames = this.scenario.frames;
    const events = this.scenario.events ?? [];
    for (let i = 0; i <= frames.length; i++) {
      for (const e of events.filter((ev) => ev.afterFrame === i && /from client|dropped/i.test(ev.event))) {
        await this.drain(e.conn);
        this.conns.get(e.conn)?.close();
      }
      if (i === frames.length) break;
      const f = frames[i]!;
      if (f.dir === 's2c') {
        await this.conn(f.conn);
        this.expected.get(f.conn)!.push(f);
        continue;
      }
      const c = await this.conn(f.conn);
      // What ZooKeeper had sent on any connection before this request, we wait for too.
      for (const n of this.conns.keys()) await this.drain(n);
      c.send(this.rewrite(f));
    }
    for (const n of this.conns.keys()) await this.drain(n);
    for (const [n, c] of this.conns) {
      this.compare(n, c);
      c.close();
    }
  }

  /** Waits until this connection has received every frame recorded for it so far. */
  private async drain(n: number): Promise<void> {
    const c = this.conns.get(n);
    if (c === undefined) return;
    const want = this.expected.get(n)!.length;
    try {
      await waitFor(`${want} frames on connection ${n}`, () => c.frames.length >= want || c.closed, { timeoutMs: 3000 });
    } catch {
      // compare() reports what is missing.
    }
  }

  private compare(n: number, c: RawConnection): void {
    const expected = this.expected.get(n)!;
    if (c.frames.length !== expected.length) {
      this.mismatches.push(`connection ${n}: got ${c.frames.length} frames, ZooKeeper sent ${expected.length}`);
    }
    for (let i = 0; i < Math.min(expected.length, c.frames.length); i++) {
      const want = expected[i]!;
      const got = c.frames[i]!;
      const wantBody = Buffer.from(want.hex, 'hex').subarray(4);
      if (want.decoded.kind === 'ConnectResponse') {
        const a = ConnectResponseCodec.read(new JuteReader(got));
        const b = ConnectResponseCodec.read(new JuteReader(wantBody));
        if (a.timeOut !== b.timeOut || a.readOnly !== b.readOnly || (a.sessionId === 0n) !== (b.sessionId === 0n)) {
          this.mismatches.push(`connection ${n} frame ${i}: ConnectResponse timeOut/readOnly ${a.timeOut}/${a.readOnly}, ZooKeeper ${b.timeOut}/${b.readOnly}`);
        }
        if (b.sessionId !== 0n) {
          this.sessions.set(b.sessionId.toString(16).padStart(16, '0'), { id: a.sessionId, passwd: a.passwd, recordedPasswd: b.passwd.toString('hex') });
        }
        continue;
      }
      const op = want.decoded.op as string | undefined;
      const ours = describeReply(got, op);
      const theirs = describeReply(wantBody, op);
      const ourHeader = ReplyHeaderCodec.read(new JuteReader(got));
      const theirHeader = ReplyHeaderCodec.read(new JuteReader(wantBody));
      if (theirHeader.zxid > 0n && ourHeader.zxid > 0n) this.zxids.push([theirHeader.zxid, ourHeader.zxid]);
      if (JSON.stringify(mask(ours)) !== JSON.stringify(mask(theirs))) {
        this.mismatches.push(`connection ${n} frame ${i} (${op ?? 'notification'}): ours ${JSON.stringify(mask(ours))}, ZooKeeper ${JSON.stringify(mask(theirs))}`);
      } else if (got.length !== wantBody.length && !(op === 'getAllChildrenNumber')) {
        this.mismatches.push(`connection ${n} frame ${i} (${op}): body is ${got.length} bytes, ZooKeeper's ${wantBody.length}`);
      }
    }
  }
}

describe('replaying ZooKeeper 3.8 golden traffic against zkts', () => {
  let server: ServerNode;
  const shared = { sessions: new Map(), zxids: [] as [bigint, bigint][] };

  beforeAll(async () => {
    server = await startServer({ tickTime: 2000 });
  });
  afterAll(async () => {
    await server.stop();
  });

  for (const scenario of vectors.scenarios) {
    if (scenario.name.startsWith('4lw-')) {
      it(`${scenario.name}: answers with ZooKeeper's shape`, async () => {
        const request = Buffer.from(scenario.frames[0]!.hex, 'hex');
        const theirs = Buffer.from(scenario.frames[1]!.hex, 'hex').toString('utf8');
        const ours = (await rawExchange(server.port, request)).toString('utf8');
        const firstWord = (s: string) => s.split(/[\s:=\t]/)[0];
        expect(firstWord(ours)).toBe(firstWord(theirs));
        const keys = (s: string) => s.split('\n').map((l) => l.split(/[:=\t]/)[0]!.trim()).filter((k) => k !== '' && !/^\d/.test(k) && !k.startsWith('/'));
        if (scenario.name === '4lw-ruok' || scenario.name === '4lw-isro') expect(ours).toBe(theirs);
        if (scenario.name === '4lw-srvr' || scenario.name === '4lw-stat') expect(keys(ours).filter((k) => k !== 'Clients')).toEqual(keys(theirs).filter((k) => k !== 'Clients'));
        if (scenario.name === '4lw-mntr') {
          for (const k of ['zk_version', 'zk_server_state', 'zk_avg_latency', 'zk_packets_received', 'zk_num_alive_connections', 'zk_znode_count', 'zk_watch_count', 'zk_ephemerals_count']) {
            expect(ours).toContain(k + '\t');
          }
        }
      });
      continue;
    }
    it(`${scenario.name}: ${scenario.description.slice(0, 80)}`, async () => {
      const replay = new ScenarioReplay(server, scenario, shared);
      await replay.run();
      expect(replay.mismatches).toEqual([]);
    });
  }

  it('took every write through one zxid each, as ZooKeeper did', () => {
    // Our zxids advance one per txn, like ZooKeeper's, so the mapping is strictly monotone.
    const pairs = shared.zxids.slice().sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let i = 1; i < pairs.length; i++) expect(pairs[i]![1] >= pairs[i - 1]![1]).toBe(true);
    expect(pairs.length).toBeGreaterThan(100);
  });
});

