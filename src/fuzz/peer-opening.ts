import { quorumProtocolVersion } from '../quorum/messages.js';
import {
  answerWelcome,
  decodeHello,
  decodeWelcome,
  encodeHandshakeFrame,
  handshakeBytesMax,
  handshakeProof,
  helloFrame,
  nonceBytes,
  welcomeFrame,
  type HelloFrame,
  type ProofSide,
  type WelcomeFrame,
} from '../quorum/peer-handshake.js';
import { mutateBody, withLength } from './bytes.js';
import type { FuzzInput } from './client-cases.js';
import { encodeRecordFrame } from './peer-wire.js';
import { Prng, randomBytes, weighted } from './rng.js';

// How an election-port connection opens, as the fuzzer plays it: the handshake of
// src/quorum/peer-handshake.ts (hello, welcome, proof), from either side. The fuzzer dials a
// member (it sends the hello and the proof) or answers a member's dial (it sends the welcome).
// A plan is plain data: each step names a handshake frame and how it differs from the frame the
// handshake calls for at that point, which is built when the step runs by the handshake module's
// own functions from what has happened so far (the member's nonce varies from run to run, so a
// proof is computed then, not stored). Crash files hold plans, so a crash replays with the
// nonces of the replay.

export type HandshakeFrameName = 'hello' | 'welcome' | 'proof';

/** How a proof is computed wrongly (for a proof frame: the dialer's; for a welcome: the acceptor's). */
export const forgeries = [
  'wrong secret', 'no secret', 'other side\'s label', 'ids swapped', 'another dialer id', 'another acceptor id',
  'zero nonce for the other side', 'nonces swapped', 'proof of the other side reflected',
] as const;
export type Forgery = (typeof forgeries)[number];

/** Values a handshake field is set to, by name, so that plans stay plain data. */
export const fieldValueNames = [
  'zero', 'minus one', 'one and a half', '255', '256', '2^31', '2^53', 'NaN', 'Infinity', 'a bigint', 'a huge bigint',
  'a string', 'an empty string', 'a long string', 'null', 'true', 'an array', 'a map',
  'no bytes', '31 bytes', '33 bytes', 'other 32 bytes', '3000 bytes',
  'version - 1', 'version + 1', 'another tag',
  'the acceptor\'s id', 'the dialer\'s id', 'a smaller id', 'an unconfigured id', 'a larger voter id',
] as const;
export type FieldValueName = (typeof fieldValueNames)[number];

/** How a step's frame differs from the one the handshake calls for. */
export type FrameChange =
  | { kind: 'none' }
  /** A field set to a named value, removed ('absent'), or added (a field the frame does not have). */
  | { kind: 'field'; field: string; value: FieldValueName | 'absent' }
  /** The proof (of a proof frame or a welcome) computed wrongly. */
  | { kind: 'forged'; how: Forgery }
  /** The right proof's bytes altered: a bit flipped at byte `at`, cut to `at` bytes, or `at` bytes added. */
  | { kind: 'proofBytes'; how: 'bit flipped' | 'truncated' | 'extended'; at: number }
  /** A byte-level mutation of the encoded frame, drawn from a generator with this seed. */
  | { kind: 'bytes'; seed: number }
  /** Only the first `keep` bytes of the frame (the connection then ends). */
  | { kind: 'cut'; keep: number }
  /** The frame under a length prefix beyond the handshake's limit. */
  | { kind: 'length'; length: number };

export type OpeningStep =
  | { send: HandshakeFrameName; change: FrameChange }
  | { send: 'raw'; what: string; hex: string }
  | { await: 'welcome' | 'proof' };

/** Named kinds of opening, so that tests can hold the generator to every one of them. */
export const dialShapes = [
  'valid', 'hello field', 'hello bytes', 'hello oversized', 'hello cut', 'no hello', 'proof forged', 'proof bytes edited',
  'proof field', 'proof mangled', 'proof oversized', 'proof cut', 'no proof', 'no welcome awaited', 'out of order', 'nothing',
] as const;
export const answerShapes = [
  'welcome valid', 'welcome field', 'welcome forged', 'welcome bytes edited', 'welcome mangled', 'welcome oversized',
  'welcome cut', 'no welcome', 'garbage for a welcome', 'two welcomes',
] as const;
export type OpeningShape = (typeof dialShapes)[number] | (typeof answerShapes)[number];

export type Verdict = 'accepted' | 'refused' | 'either';

export interface OpeningPlan {
  /** 'dial': the fuzzer dials a member; 'answer': a member dials the fuzzer, which answers. */
  side: 'dial' | 'answer';
  shape: OpeningShape;
  steps: OpeningStep[];
  /** What the member must make of it; 'either' when it depends (a changed id may name another valid peer). */
  expect: Verdict;
  /**
   * After the steps: 'probe' sends a LOOKING notification and waits to learn whether the member
   * took the connection (it answers) or refused it (it closes); 'end' closes at once (the member
   * is left with an unfinished frame or handshake).
   */
  then: 'probe' | 'end';
  /** Our nonce, hex (the hello's when dialling, the welcome's when answering): from the case's generator. */
  nonce: string;
}

/** What a step's frame is built from: the handshake so far. */
export interface HandshakeState {
  readonly side: OpeningPlan['side'];
  readonly secret: Uint8Array | null;
  /** The ids the handshake is between: the dialler's (the hello's) and the acceptor's. */
  readonly dialer: number;
  readonly acceptor: number;
  /** The ensemble's voters, for the named ids. */
  readonly voters: readonly number[];
  readonly nonce: Uint8Array;
  /** The hello: ours as the member decodes it (dialling), or the member's (answering). */
  hello: HelloFrame | null;
  /** The welcome: the member's (dialling), or ours as the member decodes it (answering). */
  welcome: WelcomeFrame | null;
}

export function handshakeState(plan: OpeningPlan, secret: Uint8Array | null, ids: { dialer: number; acceptor: number }, voters: readonly number[]): HandshakeState {
  return { side: plan.side, secret, ...ids, voters, nonce: Buffer.from(plan.nonce, 'hex'), hello: null, welcome: null };
}

const otherSecret = new Uint8Array(Buffer.from('not the secret of this ensemble!'));
const zeroNonce = new Uint8Array(nonceBytes);

function fieldValue(name: FieldValueName, state: HandshakeState): unknown {
  const larger = state.voters.filter((s) => s > state.acceptor && s !== state.dialer);
  const smaller = state.voters.filter((s) => s < state.acceptor);
  switch (name) {
    case 'zero': return 0;
    case 'minus one': return -1;
    case 'one and a half': return 1.5;
    case '255': return 255;
    case '256': return 256;
    case '2^31': return 2 ** 31;
    case '2^53': return 2 ** 53;
    case 'NaN': return NaN;
    case 'Infinity': return Infinity;
    case 'a bigint': return 2n;
    case 'a huge bigint': return 1n << 63n;
    case 'a string': return '2';
    case 'an empty string': return '';
    case 'a long string': return 'x'.repeat(3000);
    case 'null': return null;
    case 'true': return true;
    case 'an array': return [1, 2];
    case 'a map': return { sid: 1 };
    case 'no bytes': return new Uint8Array(0);
    case '31 bytes': return new Uint8Array(31).fill(7);
    case '33 bytes': return new Uint8Array(33).fill(7);
    case 'other 32 bytes': return new Uint8Array(32).fill(7);
    case '3000 bytes': return new Uint8Array(3000).fill(7);
    case 'version - 1': return quorumProtocolVersion - 1;
    case 'version + 1': return quorumProtocolVersion + 1;
    case 'another tag': return 'zkts-peer2';
    case 'the acceptor\'s id': return state.acceptor;
    case 'the dialer\'s id': return state.dialer;
    case 'a smaller id': return smaller.length > 0 ? smaller[0]! : state.acceptor - 1;
    case 'an unconfigured id': return 99;
    case 'a larger voter id': return larger.length > 0 ? larger[larger.length - 1]! : state.dialer;
  }
}

/** A proof computed wrongly in the named way, by the handshake module's own function. */
function forgedProof(how: Forgery, side: ProofSide, state: HandshakeState, nonces: { dialer: Uint8Array; acceptor: Uint8Array }, reflected: Uint8Array): Uint8Array {
  const ids = { dialer: state.dialer, acceptor: state.acceptor };
  const other: ProofSide = side === 'dialer' ? 'acceptor' : 'dialer';
  switch (how) {
    case 'wrong secret': return handshakeProof(otherSecret, side, ids, nonces);
    case 'no secret': return handshakeProof(null, side, ids, nonces);
    case 'other side\'s label': return handshakeProof(state.secret, other, ids, nonces);
    case 'ids swapped': return handshakeProof(state.secret, side, { dialer: ids.acceptor, acceptor: ids.dialer }, nonces);
    case 'another dialer id': return handshakeProof(state.secret, side, { ...ids, dialer: ids.dialer + 1 }, nonces);
    case 'another acceptor id': return handshakeProof(state.secret, side, { ...ids, acceptor: ids.acceptor + 1 }, nonces);
    case 'zero nonce for the other side':
      return handshakeProof(state.secret, side, ids, side === 'dialer' ? { ...nonces, acceptor: zeroNonce } : { ...nonces, dialer: zeroNonce });
    case 'nonces swapped': return handshakeProof(state.secret, side, ids, { dialer: nonces.acceptor, acceptor: nonces.dialer });
    case 'proof of the other side reflected': return reflected;
  }
}

/** The frame the handshake calls for now, as a record: the handshake module builds it. */
function rightRecord(name: HandshakeFrameName, state: HandshakeState): Record<string, unknown> {
  switch (name) {
    case 'hello':
      return { ...helloFrame(state.dialer, state.nonce) };
    case 'welcome': {
      const hello = state.hello ?? helloFrame(state.dialer, zeroNonce);
      return { ...welcomeFrame(state.secret, hello, state.acceptor, state.nonce) };
    }
    case 'proof': {
      const hello = state.hello ?? helloFrame(state.dialer, state.nonce);
      // No welcome yet (a proof sent before one came): the acceptor's nonce is not known.
      const welcome = state.welcome ?? { ...welcomeFrame(null, hello, state.acceptor, zeroNonce) };
      try {
        return { ...answerWelcome(state.secret, hello, state.acceptor, welcome) };
      } catch {
        // The member's welcome did not check out: prove ourselves anyway, as if it had.
        return { proof: handshakeProof(state.secret, 'dialer', { dialer: hello.sid, acceptor: state.acceptor }, { dialer: hello.nonce, acceptor: welcome.nonce }) };
      }
    }
  }
}

function proofNonces(state: HandshakeState): { dialer: Uint8Array; acceptor: Uint8Array } {
  return { dialer: state.hello?.nonce ?? state.nonce, acceptor: state.welcome?.nonce ?? (state.hello !== null ? state.nonce : zeroNonce) };
}

/** Bytes of one step's frame; records what the member will make of our hello or welcome in `state`. */
export function stepFrame(step: Extract<OpeningStep, { send: unknown }>, state: HandshakeState): FuzzInput {
  if (step.send === 'raw') return { what: step.what, bytes: Buffer.from(step.hex, 'hex') };
  const name = step.send;
  const change = step.change;
  const record = rightRecord(name, state);
  let bytes: Buffer;
  let what: string = name;
  switch (change.kind) {
    case 'none':
      bytes = encodeHandshakeFrame(record as never);
      break;
    case 'field': {
      const changed = { ...record };
      if (change.value === 'absent') delete changed[change.field];
      else changed[change.field] = fieldValue(change.value, state);
      bytes = encodeRecordFrame(changed);
      what = `${name} ${change.field} ${change.value === 'absent' ? 'absent' : `:= ${change.value}`}`;
      break;
    }
    case 'forged': {
      const side: ProofSide = name === 'proof' ? 'dialer' : 'acceptor';
      const reflected = name === 'proof' ? (state.welcome?.proof ?? new Uint8Array(0)) : handshakeProof(state.secret, 'dialer', { dialer: state.dialer, acceptor: state.acceptor }, proofNonces(state));
      bytes = encodeRecordFrame({ ...record, proof: forgedProof(change.how, side, state, proofNonces(state), reflected) });
      what = `${name} with a forged proof: ${change.how}`;
      break;
    }
    case 'proofBytes': {
      const proof = Buffer.from(record.proof as Uint8Array);
      const edited = change.how === 'bit flipped'
        ? flipBit(proof, change.at)
        : change.how === 'truncated' ? proof.subarray(0, Math.min(change.at, Math.max(0, proof.length - 1))) : Buffer.concat([proof, Buffer.alloc(change.at, 0x5a)]);
      bytes = encodeRecordFrame({ ...record, proof: new Uint8Array(edited) });
      what = `${name} with its proof ${change.how} (${change.at})`;
      break;
    }
    case 'bytes': {
      const m = mutateBody(new Prng(change.seed), encodeHandshakeFrame(record as never).subarray(4));
      bytes = m.bytes;
      what = `${name}: ${m.what}`;
      break;
    }
    case 'cut': {
      const whole = encodeHandshakeFrame(record as never);
      bytes = whole.subarray(0, Math.min(change.keep, whole.length - 1));
      what = `the first ${bytes.length} of the ${whole.length} bytes of a ${name}`;
      break;
    }
    case 'length':
      bytes = withLength(encodeHandshakeFrame(record as never).subarray(4), change.length);
      what = `${name} under a length prefix of ${change.length} (the limit is ${handshakeBytesMax})`;
      break;
  }
  if ((name === 'hello' && state.side === 'dial') || (name === 'welcome' && state.side === 'answer')) noteSent(name, bytes, state);
  return { what, bytes };
}

function flipBit(bytes: Buffer, at: number): Buffer {
  const out = Buffer.from(bytes);
  if (out.length > 0) out[at % out.length]! ^= 1 << (at % 8);
  return out;
}

/** Our hello or welcome as the member reads it (if it reads it at all): later proofs are computed from it. */
function noteSent(name: HandshakeFrameName, bytes: Buffer, state: HandshakeState): void {
  if (bytes.length < 4 || bytes.readUInt32BE(0) !== bytes.length - 4) return;
  try {
    if (name === 'hello') state.hello = decodeHello(bytes.subarray(4));
    if (name === 'welcome') state.welcome = decodeWelcome(bytes.subarray(4));
  } catch {
    // The member refuses it too.
  }
}

// ---- generation ---------------------------------------------------------------------------

type Choice<T> = readonly (readonly [number, T])[];

const tagValues: readonly (FieldValueName | 'absent')[] = ['another tag', 'an empty string', 'null', 'zero', 'absent', 'a long string', 'true'];
const versionValues: readonly (FieldValueName | 'absent')[] = ['version - 1', 'version + 1', 'zero', 'minus one', 'one and a half', 'a bigint', 'a string', 'null', 'absent', 'NaN', '2^53', '256'];
const idValues: readonly (FieldValueName | 'absent')[] = [
  'a smaller id', 'an unconfigured id', 'a larger voter id', '255', '256', 'minus one', 'one and a half',
  'a bigint', 'a string', 'null', 'absent', 'NaN', 'Infinity', '2^31',
];
/** A hello naming the member it dials; a welcome naming the member that dialled it. */
const helloIdValues = [...idValues, 'the acceptor\'s id' as const];
const welcomeIdValues = [...idValues, 'the dialer\'s id' as const];
const bytesValues: readonly (FieldValueName | 'absent')[] = ['no bytes', '31 bytes', '33 bytes', 'other 32 bytes', '3000 bytes', 'a string', 'an array', 'a map', 'null', 'absent', 'zero', 'a huge bigint', 'a long string'];

function fieldChange(rng: Prng, name: HandshakeFrameName): { change: FrameChange; expect: Verdict } {
  const fields: Choice<string> = name === 'hello'
    ? [[2, 'hello'], [3, 'version'], [5, 'sid'], [3, 'nonce'], [1, 'extra']]
    : name === 'welcome'
      ? [[2, 'welcome'], [3, 'version'], [4, 'sid'], [3, 'nonce'], [4, 'proof'], [1, 'extra']]
      : [[6, 'proof'], [1, 'extra'], [1, 'hello']];
  const field = weighted(rng, fields);
  if (field === 'extra' || (name === 'proof' && field === 'hello')) {
    // A field the frame does not have: ignored, so the frame stays as good as it was.
    return { change: { kind: 'field', field, value: rng.pick(fieldValueNames) }, expect: 'either' };
  }
  const values = field === 'hello' || field === 'welcome' ? tagValues : field === 'version' ? versionValues : field === 'sid' ? (name === 'hello' ? helloIdValues : welcomeIdValues) : bytesValues;
  const value = rng.pick(values);
  // A hello may name another peer that may dial this one, and any nonce is a nonce.
  const harmless = name === 'hello' && ((field === 'sid' && value === 'a larger voter id') || (field === 'nonce' && value === 'other 32 bytes'));
  return { change: { kind: 'field', field, value }, expect: harmless ? 'either' : 'refused' };
}

function proofBytesChange(rng: Prng): FrameChange {
  const how = rng.pick(['bit flipped', 'truncated', 'extended'] as const);
  return { kind: 'proofBytes', how, at: how === 'bit flipped' ? rng.int(256) : how === 'truncated' ? rng.int(32) : rng.range(1, 40) };
}

function oversized(rng: Prng): FrameChange {
  return { kind: 'length', length: rng.pick([handshakeBytesMax + 1, 0x10000, 0x7fffffff, 0xffffffff]) };
}

function cut(rng: Prng): FrameChange {
  return { kind: 'cut', keep: rng.range(1, 60) };
}

function raw(what: string, bytes: Buffer): OpeningStep {
  return { send: 'raw', what, hex: bytes.toString('hex') };
}

/** Something that is no handshake frame: random bytes, a peer message, an HTTP request, odd frames. */
function garbage(rng: Prng, aMessage: (rng: Prng) => FuzzInput): OpeningStep {
  return weighted<() => OpeningStep>(rng, [
    [3, () => {
      const m = aMessage(rng);
      return raw(`a peer message (${m.what}) in place of a handshake frame`, m.bytes);
    }],
    [3, () => raw('random bytes in place of a handshake frame', randomBytes(rng, rng.range(1, 300)))],
    [1, () => raw('an empty frame', withLength(Buffer.alloc(0)))],
    [1, () => raw('a frame of 5000 bytes', withLength(Buffer.alloc(5000, 0x80)))],
    [1, () => raw('an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))],
    [1, () => raw('a msgpack nil', withLength(Buffer.from([0xc0])))],
    [1, () => raw('an array claiming 2^32-1 elements', withLength(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])))],
    [1, () => raw('a TLS ClientHello\'s first bytes', Buffer.from('16030100a5010000a10303', 'hex'))],
  ])();
}

const none: FrameChange = { kind: 'none' };
const helloStep = (change: FrameChange = none): OpeningStep => ({ send: 'hello', change });
const proofStep = (change: FrameChange = none): OpeningStep => ({ send: 'proof', change });
const welcomeStep = (change: FrameChange = none): OpeningStep => ({ send: 'welcome', change });
const awaitWelcome: OpeningStep = { await: 'welcome' };
const awaitProof: OpeningStep = { await: 'proof' };

type Planned = Omit<OpeningPlan, 'side' | 'nonce'>;

const dialPlans: Choice<(rng: Prng, aMessage: (rng: Prng) => FuzzInput) => Planned> = [
  [140, () => ({ shape: 'valid', steps: [helloStep(), awaitWelcome, proofStep()], expect: 'accepted', then: 'probe' })],
  [6, (rng) => {
    const { change, expect } = fieldChange(rng, 'hello');
    return { shape: 'hello field', steps: [helloStep(change), awaitWelcome, proofStep()], expect, then: 'probe' };
  }],
  [4, (rng) => ({ shape: 'hello bytes', steps: [helloStep({ kind: 'bytes', seed: rng.next() }), awaitWelcome, proofStep()], expect: 'either', then: 'probe' })],
  [1, (rng) => ({ shape: 'hello oversized', steps: [helloStep(oversized(rng))], expect: 'refused', then: 'probe' })],
  [1, (rng) => ({ shape: 'hello cut', steps: [helloStep(cut(rng))], expect: 'refused', then: 'end' })],
  [4, (rng, aMessage) => ({ shape: 'no hello', steps: [garbage(rng, aMessage)], expect: 'either', then: 'probe' })],
  [6, (rng) => ({ shape: 'proof forged', steps: [helloStep(), awaitWelcome, proofStep({ kind: 'forged', how: rng.pick(forgeries) })], expect: 'refused', then: 'probe' })],
  [3, (rng) => ({ shape: 'proof bytes edited', steps: [helloStep(), awaitWelcome, proofStep(proofBytesChange(rng))], expect: 'refused', then: 'probe' })],
  [3, (rng) => {
    const { change, expect } = fieldChange(rng, 'proof');
    return { shape: 'proof field', steps: [helloStep(), awaitWelcome, proofStep(change)], expect, then: 'probe' };
  }],
  [3, (rng) => ({ shape: 'proof mangled', steps: [helloStep(), awaitWelcome, proofStep({ kind: 'bytes', seed: rng.next() })], expect: 'either', then: 'probe' })],
  [1, (rng) => ({ shape: 'proof oversized', steps: [helloStep(), awaitWelcome, proofStep(oversized(rng))], expect: 'refused', then: 'probe' })],
  [1, (rng) => ({ shape: 'proof cut', steps: [helloStep(), awaitWelcome, proofStep(cut(rng))], expect: 'refused', then: 'end' })],
  [3, (rng, aMessage) => weighted<Planned>(rng, [
    [1, { shape: 'no proof', steps: [helloStep(), awaitWelcome], expect: 'refused', then: 'end' }],
    [2, { shape: 'no proof', steps: [helloStep(), awaitWelcome, garbage(rng, aMessage)], expect: 'either', then: 'probe' }],
  ])],
  [3, (rng) => weighted<Planned>(rng, [
    [1, { shape: 'no welcome awaited', steps: [helloStep()], expect: 'refused', then: 'end' }],
    // The proof before the welcome: the acceptor's nonce is not known yet, so it cannot be right.
    [2, { shape: 'no welcome awaited', steps: [helloStep(), proofStep()], expect: 'refused', then: 'probe' }],
  ])],
  [2, (rng) => weighted<Planned>(rng, [
    [1, { shape: 'out of order', steps: [proofStep(), helloStep()], expect: 'refused', then: 'probe' }],
    [1, { shape: 'out of order', steps: [helloStep(), helloStep()], expect: 'refused', then: 'probe' }],
    [1, { shape: 'out of order', steps: [helloStep(), awaitWelcome, helloStep(), proofStep()], expect: 'refused', then: 'probe' }],
    [1, { shape: 'out of order', steps: [welcomeStep(), awaitWelcome], expect: 'refused', then: 'probe' }],
  ])],
  [1, () => ({ shape: 'nothing', steps: [], expect: 'refused', then: 'end' })],
];

const answerPlans: Choice<(rng: Prng, aMessage: (rng: Prng) => FuzzInput) => Planned> = [
  [30, () => ({ shape: 'welcome valid', steps: [welcomeStep(), awaitProof], expect: 'accepted', then: 'probe' })],
  [8, (rng) => {
    const { change, expect } = fieldChange(rng, 'welcome');
    return { shape: 'welcome field', steps: [welcomeStep(change), awaitProof], expect, then: 'probe' };
  }],
  [8, (rng) => ({
    shape: 'welcome forged',
    steps: [welcomeStep(rng.chance(0.7) ? { kind: 'forged', how: rng.pick(forgeries) } : proofBytesChange(rng)), awaitProof],
    expect: 'refused',
    then: 'probe',
  })],
  [3, (rng) => ({ shape: 'welcome bytes edited', steps: [welcomeStep(proofBytesChange(rng)), awaitProof], expect: 'refused', then: 'probe' })],
  [5, (rng) => ({ shape: 'welcome mangled', steps: [welcomeStep({ kind: 'bytes', seed: rng.next() }), awaitProof], expect: 'either', then: 'probe' })],
  [3, (rng) => ({ shape: 'welcome oversized', steps: [welcomeStep(oversized(rng)), awaitProof], expect: 'refused', then: 'probe' })],
  [3, (rng) => ({ shape: 'welcome cut', steps: [welcomeStep(cut(rng))], expect: 'refused', then: 'end' })],
  [3, () => ({ shape: 'no welcome', steps: [], expect: 'refused', then: 'end' })],
  [5, (rng, aMessage) => ({
    shape: 'garbage for a welcome',
    steps: [rng.chance(0.25) ? helloStep() : rng.chance(0.3) ? proofStep() : garbage(rng, aMessage), awaitProof],
    expect: 'either',
    then: 'probe',
  })],
  [2, () => ({ shape: 'two welcomes', steps: [welcomeStep(), welcomeStep(), awaitProof], expect: 'either', then: 'probe' })],
];

/** The opening of a case in which the fuzzer dials a member. */
export function dialOpening(rng: Prng, aMessage: (rng: Prng) => FuzzInput): OpeningPlan {
  const nonce = randomBytes(rng, nonceBytes).toString('hex');
  return { side: 'dial', nonce, ...weighted(rng, dialPlans)(rng, aMessage) };
}

/** The opening of a case in which a member dials the fuzzer and the fuzzer answers. */
export function answerOpening(rng: Prng, aMessage: (rng: Prng) => FuzzInput): OpeningPlan {
  const nonce = randomBytes(rng, nonceBytes).toString('hex');
  return { side: 'answer', nonce, ...weighted(rng, answerPlans)(rng, aMessage) };
}

/** The valid opening of a dial (what a crash file from before plans asked for with a claim). */
export function validDial(nonce: Uint8Array): OpeningPlan {
  return { side: 'dial', shape: 'valid', steps: [helloStep(), awaitWelcome, proofStep()], expect: 'accepted', then: 'probe', nonce: Buffer.from(nonce).toString('hex') };
}

/** What an opening counts for as fuzz input: nothing when valid, else each frame not called for (at least one). */
export function fuzzedFrames(plan: OpeningPlan): number {
  if (plan.expect === 'accepted') return 0;
  return Math.max(1, plan.steps.filter((s) => 'send' in s && (s.send === 'raw' || s.change.kind !== 'none')).length);
}
