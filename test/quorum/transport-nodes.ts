// In-process peer transports on loopback, each with its own port from the OS and a log kept
// in memory, for tests that look at what a member refused and why.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/logger.js';
import type { PeerMessage } from '../../src/quorum/messages.js';
import type { PeerTlsOptions } from '../../src/quorum/peer-options.js';
import { PeerTransport } from '../../src/quorum/peer-transport.js';
import { freePort } from '../support/net.js';

export type LogRecord = Record<string, unknown> & { msg?: string; level?: number };

/** A pino logger whose records are kept, parsed, in an array. */
export function memoryLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') records.push(JSON.parse(line) as LogRecord);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), records };
}

export interface TransportNode {
  readonly sid: number;
  readonly transport: PeerTransport;
  readonly inbox: { from: number; msg: PeerMessage }[];
  readonly disconnects: number[];
  readonly records: LogRecord[];
  logged(msg: string): LogRecord[];
}

export interface NodeOptions {
  readonly tls?: PeerTlsOptions | null;
  readonly secret?: Uint8Array | null;
  readonly juteMaxBuffer?: number;
  /** The host this node's server.N line names (default 127.0.0.1). */
  readonly host?: string;
  /** Where it listens (default: its host). */
  readonly listenHost?: string;
}

/** Transports for sids 1..count, all configured with each other; started. */
export async function startNodes(count: number, options: (sid: number) => NodeOptions = () => ({})): Promise<TransportNode[]> {
  const sids = Array.from({ length: count }, (_, i) => i + 1);
  const ports = await Promise.all(sids.map(() => freePort()));
  const peers = sids.map((sid, i) => ({ sid, host: options(sid).host ?? '127.0.0.1', port: ports[i]! }));
  const nodes = sids.map((sid, i): TransportNode => {
    const { log, records } = memoryLogger();
    const inbox: TransportNode['inbox'] = [];
    const disconnects: number[] = [];
    const own = options(sid);
    const transport = new PeerTransport({
      self: sid,
      peers,
      listenHost: own.listenHost ?? own.host ?? '127.0.0.1',
      listenPort: ports[i]!,
      log,
      onMessage: (from, msg) => inbox.push({ from, msg }),
      onDisconnected: (peer) => disconnects.push(peer),
      tls: own.tls ?? null,
      secret: own.secret ?? null,
      juteMaxBuffer: own.juteMaxBuffer,
    });
    return { sid, transport, inbox, disconnects, records, logged: (msg) => records.filter((r) => r.msg === msg) };
  });
  await Promise.all(nodes.map((n) => n.transport.start()));
  return nodes;
}

export async function stopNodes(nodes: readonly TransportNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.transport.stop()));
}
