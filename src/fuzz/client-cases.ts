import { readFileSync } from 'node:fs';
import { juteMaxBufferDefault, OpCode, opName, Xid } from '../protocol/constants.js';
import { JuteReader } from '../protocol/jute.js';
import {
  AuthPacketCodec,
  ConnectRequestCodec,
  CreateRequestCodec,
  CreateTTLRequestCodec,
  EmptyCodec,
  PathRequestCodec,
  PathTypeRequestCodec,
  PathVersionRequestCodec,
  PathWatchRequestCodec,
  ReconfigRequestCodec,
  readMultiRequest,
  requestCodecs,
  RequestHeaderCodec,
  SetACLRequestCodec,
  SetDataRequestCodec,
  SetWatches2Codec,
  SetWatchesCodec,
  writeMultiRequest,
  type ACL,
  type Codec,
  type ConnectRequest,
  type MultiOp,
} from '../protocol/records.js';
import { mutateBody, withLength, type Mutated } from './bytes.js';
import { mutateField, writeFielded, type FieldedRecord } from './jute-fields.js';
import { anyInt, anyLong, caseRng, CaseStream, randomBytes, weighted, type Prng } from './rng.js';

// Client-port cases. A case is what one TCP connection carries: usually a valid handshake,
// then requests of every opcode whose records the protocol's own codecs write (values drawn
// here or taken from the recorded ZooKeeper 3.8 traffic), some with a field or the bytes
// mutated; the last input may be anything (a bad packet closes the connection, so it goes
// last). A few cases have a bad handshake or none at all.

/** One input: bytes written to the socket as one piece (a frame, a broken frame, or garbage). */
export interface FuzzInput {
  what: string;
  bytes: Buffer;
}

export type ClientCaseShape = 'session' | 'bad-handshake' | 'no-handshake';

export interface ClientCase {
  seed: number;
  index: number;
  shape: ClientCaseShape;
  inputs: FuzzInput[];
}

/** A request as a value: its opcode and its record (what a codec reads and writes). */
export interface RequestTemplate {
  type: number;
  value: unknown;
}

/** The recorded traffic, decoded: real clients' handshakes and requests to start mutations from. */
export interface ClientCorpus {
  handshakes: ConnectRequest[];
  requests: RequestTemplate[];
  /** Request bodies as recorded (header included), for splices. */
  bodies: Buffer[];
}

export const emptyCorpus: ClientCorpus = { handshakes: [], requests: [], bodies: [] };

/** Reads test/fixtures/zk38-frames.json (see its README): every client-to-server frame that decodes. */
export function loadClientCorpus(file: string): ClientCorpus {
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as { scenarios: { frames: { dir: string; conn: number; hex: string }[] }[] };
  const corpus: ClientCorpus = { handshakes: [], requests: [], bodies: [] };
  for (const scenario of recorded.scenarios) {
    const seen = new Set<number>();
    for (const frame of scenario.frames) {
      if (frame.dir !== 'c2s') continue;
      const bytes = Buffer.from(frame.hex, 'hex');
      const first = !seen.has(frame.conn);
      seen.add(frame.conn);
      if (bytes.length < 4 || bytes.readInt32BE(0) !== bytes.length - 4) continue; // a four-letter word
      const body = bytes.subarray(4);
      try {
        if (first) {
          corpus.handshakes.push(ConnectRequestCodec.read(new JuteReader(body)));
        } else {
          corpus.bodies.push(body);
          corpus.requests.push(decodeRequest(body));
        }
      } catch {
        // A recorded frame our codecs do not read (sasl, say): used for splices only.
      }
    }
  }
  return corpus;
}

function decodeRequest(body: Buffer): RequestTemplate {
  const r = new JuteReader(body);
  const { type } = RequestHeaderCodec.read(r);
  if (type === OpCode.multi || type === OpCode.multiRead) return { type, value: readMultiRequest(r, type === OpCode.multi ? 'write' : 'read') };
  const codec = requestCodecs.get(type);
  if (codec === undefined) throw new Error(`no codec for opcode ${type}`);
  return { type, value: codec.read(r) };
}

// ---- values ------------------------------------------------------------------------------

const pathPool: readonly string[] = [
  '/', '/zookeeper', '/zookeeper/config', '/zookeeper/quota', '/fz', '/fz/a', '/fz/a/b', '/fz/a/b/c', '/fz/b',
  '/fz/s-', '/fz/a/s-', '/fz/c', '/fz/c/x', '/fz/e', '/fz/t', '/fz/t/x', '/fz2', '/fz2/x',
  '', 'fz', '/fz/', '//fz', '/fz//a', '/fz/.', '/fz/..', '/fz/./a', '/fz/\u0000x', '/fz/\ud83d\ude00', '/fz/\u0001', '/fz/é',
  '/fz/\u{fffe}', '/fz/\ud800', '/fz/zookeeper', '/zookeeper/x', '/fz/a\u2028b',
];

function path(rng: Prng): string {
  if (rng.chance(0.75)) return rng.pick(pathPool);
  if (rng.chance(0.5)) return `/fz/${rng.pick(['a', 'b', 'c', 'n'])}${rng.int(20)}`;
  if (rng.chance(0.5)) return `/fz/${'d/'.repeat(rng.range(1, 30))}x`;
  return `/fz/${'n'.repeat(rng.pick([255, 256, 1024, 10_000]))}`;
}

function data(rng: Prng): Buffer | null {
  return weighted<() => Buffer | null>(rng, [
    [4, () => null],
    [4, () => Buffer.alloc(0)],
    [80, () => randomBytes(rng, rng.range(1, 64))],
    [3, () => Buffer.alloc(rng.range(1024, 65_536), 0x61)],
    [0.3, () => Buffer.alloc(juteMaxBufferDefault - rng.range(0, 200), 0x62)],
  ])();
}

const open: ACL = { perms: 31, id: { scheme: 'world', id: 'anyone' } };

function aclEntry(rng: Prng): ACL {
  return weighted<() => ACL>(rng, [
    [20, () => open],
    [6, () => ({ perms: 31, id: { scheme: 'auth', id: '' } })],
    [4, () => ({ perms: 1, id: { scheme: 'world', id: 'anyone' } })],
    [5, () => ({ perms: rng.range(0, 31), id: { scheme: 'digest', id: rng.pick(['u:KuS9+x8eRb4Kgkm0RLBWKLH7zZc=', 'u', 'u:', ':', '']) } })],
    [5, () => ({ perms: rng.range(0, 31), id: { scheme: 'ip', id: rng.pick(['127.0.0.1', '127.0.0.0/8', '10.0.0.1', '300.1.1.1', '127.0.0.1/99', '::1', 'x', '', '127.0.0.1/-1']) } })],
    [3, () => ({ perms: 31, id: { scheme: 'world', id: rng.pick(['someone', '', 'anyone\u0000']) } })],
    [3, () => ({ perms: 31, id: { scheme: rng.pick(['super', 'sasl', 'x509', 'foo', '', 'WORLD']), id: 'anyone' } })],
    [2, () => ({ perms: 31, id: { scheme: null as unknown as string, id: 'anyone' } })],
    [2, () => ({ perms: 31, id: { scheme: 'world', id: null as unknown as string } })],
    [2, () => ({ perms: 31, id: { scheme: 'digest', id: null as unknown as string } })],
    [3, () => ({ perms: rng.pick([0, -1, 32, 63, 0x7fffffff, -0x80000000]), id: { scheme: 'world', id: 'anyone' } })],
  ])();
}

function acl(rng: Prng): ACL[] | null {
  return weighted<() => ACL[] | null>(rng, [
    [3, () => null],
    [3, () => []],
    [60, () => [open]],
    [25, () => [aclEntry(rng)]],
    [8, () => Array.from({ length: rng.range(2, 5) }, () => aclEntry(rng))],
    [1, () => Array.from({ length: 200 }, () => aclEntry(rng))],
  ])();
}

function createFlags(rng: Prng): number {
  return rng.chance(0.85) ? rng.range(0, 6) : anyInt(rng);
}

function version(rng: Prng): number {
  return rng.chance(0.5) ? -1 : rng.chance(0.6) ? rng.range(0, 3) : anyInt(rng);
}

function enumValue(rng: Prng, lo: number, hi: number): number {
  return rng.chance(0.85) ? rng.range(lo, hi) : anyInt(rng);
}

function ttl(rng: Prng): bigint {
  return rng.chance(0.7) ? BigInt(rng.pick([-1, 0, 1, 100, 1000, 60_000])) : rng.pick([0xffffffffffn, 0x10000000000n, -2n, anyLong(rng)]);
}

function stringOrNull(rng: Prng, make: () => string): string | null {
  return rng.chance(0.1) ? null : make();
}

function pathList(rng: Prng): string[] {
  const n = rng.chance(0.97) ? rng.range(0, 5) : rng.pick([100, 2000]);
  return Array.from({ length: n }, () => path(rng));
}

function createValue(rng: Prng): unknown {
  return { path: path(rng), data: data(rng), acl: acl(rng), flags: createFlags(rng) };
}

/** A value for each request record codec: the generators the fuzzer builds requests from. */
export const recordGenerators = new Map<Codec<any>, (rng: Prng) => unknown>([
  [CreateRequestCodec, createValue],
  [CreateTTLRequestCodec, (rng) => ({ ...(createValue(rng) as object), ttl: ttl(rng) })],
  [PathVersionRequestCodec, (rng) => ({ path: path(rng), version: version(rng) })],
  [PathRequestCodec, (rng) => ({ path: path(rng) })],
  [PathWatchRequestCodec, (rng) => ({ path: path(rng), watch: rng.chance(0.5) })],
  [SetDataRequestCodec, (rng) => ({ path: path(rng), data: data(rng), version: version(rng) })],
  [SetACLRequestCodec, (rng) => ({ path: path(rng), acl: acl(rng), version: version(rng) })],
  [PathTypeRequestCodec, (rng) => ({ path: path(rng), type: enumValue(rng, 0, 5) })],
  [ReconfigRequestCodec, (rng) => ({
    joiningServers: stringOrNull(rng, () => rng.pick(['server.9=127.0.0.1:1:2;3', 'garbage', ''])),
    leavingServers: stringOrNull(rng, () => rng.pick(['1', '2,3', 'x', ''])),
    newMembers: stringOrNull(rng, () => rng.pick(['server.1=127.0.0.1:1:2', ''])),
    curConfigId: anyLong(rng),
  })],
  [SetWatchesCodec, setWatchesValue],
  [SetWatches2Codec, setWatchesValue],
  [AuthPacketCodec, (rng) => ({
    type: rng.chance(0.9) ? 0 : anyInt(rng),
    scheme: weighted<string | null>(rng, [[6, 'digest'], [2, 'ip'], [1, 'world'], [1, 'super'], [1, 'sasl'], [1, 'xyz'], [1, ''], [1, null]]),
    auth: weighted<() => Buffer | null>(rng, [
      [6, () => Buffer.from(rng.pick(['u:p', 'fuzz-super:wrong', 'nocolon', ':', 'u:', '127.0.0.1']))],
      [1, () => null],
      [1, () => Buffer.alloc(0)],
      [2, () => randomBytes(rng, rng.range(1, 40))],
    ])(),
  })],
  [EmptyCodec, () => ({})],
]);

function setWatchesValue(rng: Prng): unknown {
  return {
    relativeZxid: rng.chance(0.7) ? BigInt(rng.range(0, 100)) : anyLong(rng),
    dataWatches: pathList(rng),
    existWatches: pathList(rng),
    childWatches: pathList(rng),
    persistentWatches: pathList(rng),
    persistentRecursiveWatches: pathList(rng),
  };
}

const multiWriteTypes = [OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete, OpCode.check, OpCode.setData];
const multiReadTypes = [OpCode.getData, OpCode.getChildren];

function multiValue(rng: Prng, type: number): MultiOp[] {
  const allowed = type === OpCode.multi ? multiWriteTypes : multiReadTypes;
  const count = rng.chance(0.95) ? rng.range(0, 6) : rng.pick([50, 500]);
  const ops: MultiOp[] = [];
  for (let i = 0; i < count; i++) {
    const opType = rng.chance(0.93) ? rng.pick(allowed) : rng.pick([OpCode.setACL, OpCode.getACL, OpCode.sync, OpCode.multi, OpCode.error, 0, 99]);
    const codec = opType === OpCode.createTTL ? CreateTTLRequestCodec : multiBodyCodec(opType);
    ops.push({ type: opType, request: recordGenerators.get(codec)!(rng) } as MultiOp);
  }
  return ops;
}

function multiBodyCodec(type: number): Codec<any> {
  if (type === OpCode.create || type === OpCode.create2 || type === OpCode.createContainer) return CreateRequestCodec;
  if (type === OpCode.delete || type === OpCode.check) return PathVersionRequestCodec;
  if (type === OpCode.setData) return SetDataRequestCodec;
  return PathWatchRequestCodec;
}

/** Every opcode of the protocol, and some that are not. */
export const clientOpcodes: readonly number[] = [...new Set(Object.values(OpCode))];
const unknownOpcodes = [10, 23, 99, 108, 1000, -2, -12, 0x7fffffff, -0x80000000];

function requestValue(rng: Prng, type: number): unknown {
  if (type === OpCode.multi || type === OpCode.multiRead) return multiValue(rng, type);
  const codec = requestCodecs.get(type);
  if (codec === undefined) return null;
  return recordGenerators.get(codec)!(rng);
}

/** A request's frame body (header and record), with the fields noted. */
export function encodeRequest(xid: number, template: RequestTemplate, rng: Prng): FieldedRecord {
  return writeFielded((w) => {
    RequestHeaderCodec.write(w, { xid, type: template.type });
    if (template.type === OpCode.multi || template.type === OpCode.multiRead) {
      writeMultiRequest(w, template.value as MultiOp[]);
      return;
    }
    const codec = requestCodecs.get(template.type);
    if (codec !== undefined) codec.write(w, template.value);
    else w.raw(randomBytes(rng, rng.range(0, 32)));
  });
}

function xidFor(rng: Prng, type: number, next: number): number {
  if (rng.chance(0.03)) return anyInt(rng);
  if (type === OpCode.ping) return Xid.ping;
  if (type === OpCode.auth) return Xid.auth;
  if ((type === OpCode.setWatches || type === OpCode.setWatches2) && rng.chance(0.5)) return Xid.setWatches;
  return next;
}

/**
 * Opcodes the server answers with UNIMPLEMENTED and then closes (docs/protocol.md section 4), and
 * closeSession: sent only as a case's last input, so that they do not cut the rest short.
 */
const closingOpcodes: ReadonlySet<number> = new Set([OpCode.notification, OpCode.error, OpCode.createSession, OpCode.check, OpCode.sasl, OpCode.closeSession]);
const answeredOpcodes = clientOpcodes.filter((op) => !closingOpcodes.has(op));

function pickTemplate(rng: Prng, corpus: ClientCorpus, last: boolean): RequestTemplate {
  if (corpus.requests.length > 0 && rng.chance(0.25)) {
    const recorded = rng.pick(corpus.requests);
    if (last || !closesConnection(recorded)) return recorded;
  }
  const type = !last ? rng.pick(answeredOpcodes) : rng.chance(0.95) ? rng.pick(clientOpcodes) : rng.pick(unknownOpcodes);
  const template = { type, value: requestValue(rng, type) };
  if (!last && closesConnection(template)) return { type: OpCode.exists, value: recordGenerators.get(PathWatchRequestCodec)!(rng) };
  return template;
}

/** A request the server refuses by closing: a multi with an op it does not allow, an auth that fails. */
function closesConnection(t: RequestTemplate): boolean {
  if (closingOpcodes.has(t.type)) return true;
  if (t.type === OpCode.multi || t.type === OpCode.multiRead) {
    const allowed = t.type === OpCode.multi ? multiWriteTypes : multiReadTypes;
    return (t.value as MultiOp[]).some((op) => !(allowed as number[]).includes(op.type));
  }
  if (t.type === OpCode.auth) {
    const auth = t.value as { scheme: string | null; auth: Buffer | null };
    return auth.scheme !== 'digest' || auth.auth === null || !/^[^:]+:/.test(auth.auth.toString('latin1'));
  }
  return false;
}

function label(template: RequestTemplate, xid: number): string {
  return `${opName(template.type)} (xid ${xid})`;
}

/** A request that the server should answer and keep the connection for (it may not: that is a finding too). */
function midRequest(rng: Prng, corpus: ClientCorpus, xid: number): FuzzInput {
  const template = pickTemplate(rng, corpus, false);
  const actualXid = xidFor(rng, template.type, xid);
  const record = encodeRequest(actualXid, template, rng);
  if (rng.chance(0.2)) {
    // Ints, longs and booleans only: bad enums, versions, flags, perms and zxids are answered.
    const scalar = record.fields.filter((f, i) => i >= 2 && (f.kind === 'int' || f.kind === 'long' || f.kind === 'bool'));
    if (scalar.length > 0) {
      const m = mutateField(rng, { body: record.body, fields: [...record.fields.slice(0, 2), ...scalar] }, 2, false);
      return { bytes: m.bytes, what: `${label(template, actualXid)}: ${m.what}` };
    }
  }
  return { bytes: withLength(record.body), what: label(template, actualXid) };
}

/** The last input of a session: often something that makes the server close the connection. */
function finalRequest(rng: Prng, corpus: ClientCorpus, xid: number): FuzzInput {
  const template = pickTemplate(rng, corpus, true);
  const actualXid = xidFor(rng, template.type, xid);
  const record = encodeRequest(actualXid, template, rng);
  const what = label(template, actualXid);
  const m = weighted<() => Mutated | null>(rng, [
    [25, () => null],
    [40, () => mutateField(rng, record, rng.chance(0.1) ? 0 : 2)],
    [28, () => mutateBody(rng, record.body, corpus.bodies)],
    [3, () => oversize(rng, actualXid)],
    [2, () => ({ bytes: Buffer.from(rng.pick(['ruok', 'srvr', 'mntr', 'stat'])), what: 'a four-letter word inside a session' })],
    [2, () => ({ bytes: Buffer.concat([withLength(record.body), randomBytes(rng, rng.range(1, 64))]), what: 'valid frame, then garbage' })],
  ])();
  return m === null ? { bytes: withLength(record.body), what } : { bytes: m.bytes, what: `${what}: ${m.what}` };
}

/** A setData frame just over jute.maxbuffer, sent whole. */
function oversize(rng: Prng, xid: number): Mutated {
  const record = writeFielded((w) => {
    RequestHeaderCodec.write(w, { xid, type: OpCode.setData });
    SetDataRequestCodec.write(w, { path: '/fz', data: Buffer.alloc(juteMaxBufferDefault + rng.range(-10, 100), 0x6f), version: -1 });
  });
  return { bytes: withLength(record.body), what: `frame of ${record.body.length} bytes (jute.maxbuffer is ${juteMaxBufferDefault})` };
}

function connectRequest(rng: Prng, corpus: ClientCorpus): ConnectRequest {
  if (corpus.handshakes.length > 0 && rng.chance(0.2)) {
    // A recorded handshake, but always for a new session: recorded session ids are long gone.
    return { ...rng.pick(corpus.handshakes), sessionId: 0n, lastZxidSeen: 0n, passwd: Buffer.alloc(16) };
  }
  return {
    protocolVersion: 0,
    lastZxidSeen: 0n,
    timeOut: rng.pick([200, 1000, 4000, 10_000, 30_000]),
    sessionId: 0n,
    passwd: Buffer.alloc(16),
    readOnly: weighted<boolean | undefined>(rng, [[8, false], [1, true], [1, undefined]]),
  };
}

function handshake(request: ConnectRequest): FieldedRecord {
  return writeFielded((w) => ConnectRequestCodec.write(w, request));
}

function badHandshake(rng: Prng, corpus: ClientCorpus): FuzzInput {
  const request = connectRequest(rng, corpus);
  const values: [string, () => ConnectRequest][] = [
    ['timeOut', () => ({ ...request, timeOut: anyInt(rng) })],
    ['sessionId', () => ({ ...request, sessionId: anyLong(rng), passwd: randomBytes(rng, 16) })],
    ['lastZxidSeen', () => ({ ...request, lastZxidSeen: anyLong(rng) })],
    ['protocolVersion', () => ({ ...request, protocolVersion: anyInt(rng) })],
    ['passwd', () => ({ ...request, passwd: randomBytes(rng, rng.pick([0, 1, 15, 17, 64, 4096])) })],
  ];
  const m = weighted<() => Mutated>(rng, [
    [4, () => {
      const [field, make] = rng.pick(values);
      return { bytes: withLength(handshake(make()).body), what: `ConnectRequest with an odd ${field}` };
    }],
    [4, () => mutateField(rng, handshake(request))],
    [3, () => mutateBody(rng, handshake(request).body, corpus.bodies)],
  ])();
  return { bytes: m.bytes, what: `handshake: ${m.what}` };
}

function noHandshake(rng: Prng, corpus: ClientCorpus): FuzzInput {
  return weighted<() => FuzzInput>(rng, [
    [4, () => {
      const template = pickTemplate(rng, corpus, true);
      return { bytes: withLength(encodeRequest(1, template, rng).body), what: `${opName(template.type)} request before any handshake` };
    }],
    [2, () => ({ bytes: randomBytes(rng, rng.range(1, 200)), what: 'random bytes instead of a handshake' }),],
    [1, () => ({ bytes: Buffer.from(`${rng.pick(['ruok', 'srvr', 'mntr', 'cons'])}${'x'.repeat(rng.range(1, 8))}`), what: 'a four-letter word with bytes after it' })],
    [1, () => ({ bytes: Buffer.from(rng.pick(['ruo', 'r', 'rouk', 'RUOK', 'kill', 'wchx'])), what: 'a near four-letter word' })],
    [1, () => ({ bytes: withLength(Buffer.alloc(0)), what: 'an empty first frame' })],
    [1, () => ({ bytes: Buffer.alloc(0), what: 'nothing at all (connect, then close)' })],
  ])();
}

/** Case `index` of the run with `seed`: a pure function of the two and the corpus. */
export function clientCase(seed: number, index: number, corpus: ClientCorpus): ClientCase {
  const rng = caseRng(seed, CaseStream.client, index);
  const shape = weighted<ClientCaseShape>(rng, [[90, 'session'], [6, 'bad-handshake'], [4, 'no-handshake']]);
  const inputs: FuzzInput[] = [];
  if (shape === 'no-handshake') {
    inputs.push(noHandshake(rng, corpus));
    if (rng.chance(0.5)) inputs.push(finalRequest(rng, corpus, 2));
  } else if (shape === 'bad-handshake') {
    inputs.push(badHandshake(rng, corpus));
    if (rng.chance(0.5)) inputs.push(midRequest(rng, corpus, 1));
  } else {
    inputs.push({ bytes: withLength(handshake(connectRequest(rng, corpus)).body), what: 'handshake' });
    const requests = rng.chance(0.1) ? rng.range(1, 4) : rng.range(5, 40);
    for (let xid = 1; xid < requests; xid++) inputs.push(midRequest(rng, corpus, xid));
    inputs.push(rng.chance(0.75) ? finalRequest(rng, corpus, requests) : midRequest(rng, corpus, requests));
  }
  return { seed, index, shape, inputs };
}
