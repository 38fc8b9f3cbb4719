// Expiring a session on demand, as Curator's KillSession did: a second connection takes the
// session over with its id and password (derived from the id, as in ZooKeeper) and closes it.
// The close is a txn: once it is answered the session and its ephemerals are gone on every
// member, and the owner hears Expired when it next reaches a server. Spoken on the wire here,
// so that the outcome of each step is known exactly.
import { createConnection } from 'node:net';
import { FrameDecoder } from '../protocol/framing.js';
import { JuteReader, JuteWriter } from '../protocol/jute.js';
import { ConnectRequestCodec, ConnectResponseCodec, ReplyHeaderCodec, RequestHeaderCodec } from '../protocol/records.js';
import { OpCode } from '../protocol/constants.js';
import { sessionPassword } from '../session/password.js';
import { scaled } from './wait.js';

/** A session id as a bigint or its hex string ('0x…'). */
export type SessionIdLike = bigint | string;

/** The attempts `expireSession` makes before it gives up (each is one connection). */
const attemptsMax = 20;
const attemptTimeoutMs = 5_000;
const retryPauseMsMax = 500;
const frameBytesMax = 1024 * 1024;

export function parseSessionId(id: SessionIdLike): bigint {
  if (typeof id === 'bigint') return BigInt.asUintN(64, id);
  if (!/^0x[0-9a-f]{1,16}$/i.test(id)) throw new TypeError(`a session id is a bigint or a hex string like '0x1000a2b3c4d0000', not '${id}'`);
  return BigInt(id);
}

/** How an attempt ended; 'lost after takeover' means the session was alive then. */
type Outcome = 'closed' | 'unknown session' | 'lost' | 'lost after takeover';

/** One attempt on one server: take the session over, then close it. */
function takeOverAndClose(host: string, port: number, sessionId: bigint): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const decoder = new FrameDecoder(frameBytesMax);
    let connected = false;
    const done = (outcome: Outcome | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const lost = () => done(connected ? 'lost after takeover' : 'lost');
    const timer = setTimeout(lost, scaled(attemptTimeoutMs));
    socket.on('connect', () => {
      const w = new JuteWriter();
      ConnectRequestCodec.write(w, { protocolVersion: 0, lastZxidSeen: 0n, timeOut: 30_000, sessionId, passwd: sessionPassword(sessionId), readOnly: false });
      socket.write(w.frame());
    });
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        return done(err as Error);
      }
      for (const frame of frames) {
        if (!connected) {
          const response = ConnectResponseCodec.read(new JuteReader(frame));
          // A server answers a session it does not know (or that expired) with timeOut 0.
          if (response.timeOut <= 0 || response.sessionId !== sessionId) return done('unknown session');
          connected = true;
          const w = new JuteWriter();
          RequestHeaderCodec.write(w, { xid: 1, type: OpCode.closeSession });
          socket.write(w.frame());
          continue;
        }
        const header = ReplyHeaderCodec.read(new JuteReader(frame));
        if (header.xid === 1) return done(header.err === 0 ? 'closed' : 'lost after takeover');
      }
    });
    socket.on('error', lost);
    socket.on('close', lost);
  });
}

/**
 * Closes session `id` through one of `servers` ("host:port"). The owner may take its session
 * back while this runs (it reconnects when the server moves the session away from it), so it
 * tries again until a close is answered or the session is found gone. Rejects when the session
 * was never there to kill, or no server would do it.
 */
export async function expireSession(servers: readonly string[], id: SessionIdLike): Promise<void> {
  const sessionId = parseSessionId(id);
  if (servers.length === 0) throw new Error('no server to expire the session on');
  let lastOutcome: Outcome = 'lost';
  let seenAlive = false;
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const server = servers[attempt % servers.length]!;
    const colon = server.lastIndexOf(':');
    const outcome = await takeOverAndClose(server.slice(0, colon), Number(server.slice(colon + 1)), sessionId);
    if (outcome === 'closed') return;
    if (outcome === 'unknown session') {
      // Gone now: closed by an earlier attempt whose answer was lost, or never there at all.
      if (seenAlive) return;
      throw new Error(`session 0x${sessionId.toString(16)} is not alive on ${server}; nothing to expire`);
    }
    if (outcome === 'lost after takeover') seenAlive = true;
    lastOutcome = outcome;
    await new Promise((resolve) => setTimeout(resolve, Math.min(retryPauseMsMax, 20 * attempt)));
  }
  throw new Error(`could not expire session 0x${sessionId.toString(16)} through ${servers.join(',')}: ${attemptsMax} attempts, the last ${lastOutcome}`);
}
