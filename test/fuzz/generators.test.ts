import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpCode } from '../../src/protocol/constants.js';
import { JuteReader } from '../../src/protocol/jute.js';
import { ConnectRequestCodec, CreateRequestCodec, RequestHeaderCodec, requestCodecs } from '../../src/protocol/records.js';
import { clientCase, clientOpcodes, encodeRequest, loadClientCorpus, recordGenerators } from '../../src/fuzz/client-cases.js';
import { mutateField, writeFielded } from '../../src/fuzz/jute-fields.js';
import type { FuzzInput } from '../../src/fuzz/client-cases.js';
import { peerCase, peerMessageTypes, sampleMessages } from '../../src/fuzz/peer-cases.js';
import {
  answerOpening,
  answerShapes,
  dialOpening,
  dialShapes,
  forgeries,
  handshakeState,
  stepFrame,
  type FrameChange,
  type HandshakeState,
  type OpeningPlan,
  type OpeningStep,
} from '../../src/fuzz/peer-opening.js';
import { decodePeerBody, encodePeerFrame, peerTypeOf } from '../../src/fuzz/peer-wire.js';
import { Prng } from '../../src/fuzz/rng.js';
import { fuzzPeerSecret } from '../../src/fuzz/servers.js';
import { packageRoot } from '../../src/testing/member-process.js';
import { checkFuzzerMatchesTransport } from '../../src/fuzz/wire-check.js';
import { pingMessage } from '../../src/quorum/messages.js';
import {
  answerWelcome,
  checkDialerProof,
  decodeHello,
  decodeProof,
  decodeWelcome,
  HandshakeRefused,
  helloFrame,
  welcomeFrame,
  type HelloFrame,
  type WelcomeFrame,
} from '../../src/quorum/peer-handshake.js';

// The fuzzer's generators: one seed gives the same bytes every time, every opcode and every
// peer message type is produced, and mutations land where they say they do.

const corpus = loadClientCorpus(join(packageRoot, 'test', 'fixtures', 'zk38-frames.json'));

function opcodeOf(frame: Buffer): number {
  return frame.readInt32BE(8);
}

describe('fuzz case generators', () => {
  it('regenerate a case byte for byte from its seed and number, and differ between seeds', () => {
    for (const index of [0, 1, 77, 4_000_000]) {
      const a = clientCase(42, index, corpus).inputs.map((i) => i.bytes.toString('hex'));
      expect(clientCase(42, index, corpus).inputs.map((i) => i.bytes.toString('hex'))).toEqual(a);
      expect(clientCase(43, index, corpus).inputs.map((i) => i.bytes.toString('hex'))).not.toEqual(a);
      const p = peerCase(42, index);
      const again = peerCase(42, index);
      expect(again.inputs.map((i) => i.bytes.toString('hex'))).toEqual(p.inputs.map((i) => i.bytes.toString('hex')));
      expect(again.opening).toEqual(p.opening);
      expect(peerCase(43, index).opening.nonce).not.toBe(p.opening.nonce);
    }
  });

  it('read real clients\' handshakes and requests from the recorded ZooKeeper 3.8 traffic', () => {
    expect(corpus.handshakes.length).toBeGreaterThan(40);
    expect(corpus.requests.length).toBeGreaterThan(300);
    expect(new Set(corpus.requests.map((r) => r.type)).size).toBeGreaterThan(20);
  });

  it('have a value generator for every request record codec of the protocol', () => {
    for (const [op, codec] of requestCodecs) expect(recordGenerators.has(codec), `opcode ${op}`).toBe(true);
  });

  it('send every opcode of the protocol, some unknown ones, bad handshakes and none at all, within 2000 cases', () => {
    const seen = new Set<number>();
    const shapes = new Set<string>();
    for (let index = 0; index < 2000; index++) {
      const c = clientCase(7, index, corpus);
      shapes.add(c.shape);
      if (c.shape !== 'session') continue;
      for (const input of c.inputs.slice(1)) if (input.bytes.length >= 12 && input.bytes.readInt32BE(0) === input.bytes.length - 4) seen.add(opcodeOf(input.bytes));
    }
    for (const op of clientOpcodes) expect(seen.has(op), `opcode ${op}`).toBe(true);
    expect([...seen].some((op) => !clientOpcodes.includes(op))).toBe(true);
    expect([...shapes].sort()).toEqual(['bad-handshake', 'no-handshake', 'session']);
  });

  it('open every session case with a handshake the codec reads back', () => {
    for (let index = 0; index < 200; index++) {
      const c = clientCase(9, index, corpus);
      if (c.shape !== 'session') continue;
      const body = c.inputs[0]!.bytes.subarray(4);
      expect(ConnectRequestCodec.read(new JuteReader(body)).sessionId).toBe(0n);
    }
  });

  it('send every peer message type within 300 cases, some dialling members and some answering their dials', () => {
    const types = new Set<string>();
    const sides = new Set<string>();
    for (let index = 0; index < 300; index++) {
      const c = peerCase(7, index);
      sides.add(c.opening.side);
      for (const input of c.inputs) {
        try {
          const type = peerTypeOf(decodePeerBody(input.bytes.subarray(4)));
          if (type !== undefined) types.add(type);
        } catch {
          // a broken frame
        }
      }
    }
    for (const type of peerMessageTypes) expect(types.has(type), type).toBe(true);
    expect([...sides].sort()).toEqual(['answer', 'dial']);
  });

  it('open connections in every way the handshake can go wrong, from both sides, within 3000 openings each', () => {
    const rng = new Prng(5);
    const aMessage = (): FuzzInput => ({ what: 'a ping', bytes: encodePeerFrame(pingMessage(1n)) });
    const dialled = new Set<string>();
    const answered = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      dialled.add(dialOpening(rng, aMessage).shape);
      answered.add(answerOpening(rng, aMessage).shape);
    }
    expect([...dialled].sort()).toEqual([...dialShapes].sort());
    expect([...answered].sort()).toEqual([...answerShapes].sort());
  });
});

describe('field-aware mutation', () => {
  it('notes where the codec wrote each field of a request', () => {
    const record = writeFielded((w) => {
      RequestHeaderCodec.write(w, { xid: 5, type: OpCode.create });
      CreateRequestCodec.write(w, { path: '/a', data: Buffer.from('xy'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 });
    });
    expect(record.fields.map((f) => f.kind)).toEqual(['int', 'int', 'string', 'buffer', 'count', 'int', 'string', 'string', 'int']);
    const scheme = record.fields[6]!;
    expect(record.body.subarray(scheme.start + 4, scheme.end).toString()).toBe('world');
  });

  it('makes a string null by writing length -1 in its place, and the codec reads a null scheme back', () => {
    const record = writeFielded((w) => {
      RequestHeaderCodec.write(w, { xid: 5, type: OpCode.create });
      CreateRequestCodec.write(w, { path: '/a', data: null, acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 });
    });
    const rng = new Prng(3);
    let nulled: Buffer | null = null;
    for (let i = 0; i < 500 && nulled === null; i++) {
      const m = mutateField(rng, { body: record.body, fields: [record.fields[0]!, record.fields[1]!, record.fields[6]!] }, 2, false);
      if (m.what.endsWith('null (length -1)')) nulled = m.bytes;
    }
    expect(nulled).not.toBeNull();
    const r = new JuteReader(nulled!.subarray(4));
    RequestHeaderCodec.read(r);
    expect(CreateRequestCodec.read(r).acl![0]!.id.scheme).toBeNull();
  });

  it('builds request frames with the protocol codecs: a generated create decodes as one', () => {
    const rng = new Prng(11);
    const value = recordGenerators.get(CreateRequestCodec)!(rng) as { path: string };
    const record = encodeRequest(9, { type: OpCode.create, value }, rng);
    const r = new JuteReader(record.body);
    expect(RequestHeaderCodec.read(r)).toEqual({ xid: 9, type: OpCode.create });
    expect(CreateRequestCodec.read(r).path).toBe(value.path);
  });
});

describe('peer wire of the fuzzer', () => {
  it('says hello, proves itself and packs every message type byte for byte as a real peer transport does', async () => {
    const theirs = await checkFuzzerMatchesTransport(fuzzPeerSecret, sampleMessages());
    expect(decodeHello(theirs.hello.subarray(4)).sid).toBe(4);
    expect(decodeProof(theirs.proof.subarray(4)).proof.length).toBe(32);
  });
});

describe('handshake frames of the fuzzer', () => {
  const voters = [2, 3, 4];
  const dialPlan = (steps: OpeningStep[]): OpeningPlan => ({ side: 'dial', shape: 'valid', steps, expect: 'either', then: 'probe', nonce: '11'.repeat(32) });
  const answerPlan = (steps: OpeningStep[]): OpeningPlan => ({ ...dialPlan(steps), side: 'answer' });

  /** The fuzzer dials server 2 as server 5: its hello, then the member's welcome, as a member writes them. */
  function dialled(): { state: HandshakeState; hello: HelloFrame; welcome: WelcomeFrame } {
    const state = handshakeState(dialPlan([]), fuzzPeerSecret, { dialer: 5, acceptor: 2 }, voters);
    const hello = decodeHello(stepFrame({ send: 'hello', change: { kind: 'none' } }, state).bytes.subarray(4));
    const welcome = welcomeFrame(fuzzPeerSecret, hello, 2);
    state.welcome = welcome;
    return { state, hello, welcome };
  }

  /** Server 3 dials the fuzzer (server 1): the member's hello. */
  function answering(): { state: HandshakeState; hello: HelloFrame } {
    const state = handshakeState(answerPlan([]), fuzzPeerSecret, { dialer: 3, acceptor: 1 }, voters);
    const hello = helloFrame(3);
    state.hello = hello;
    return { state, hello };
  }

  function proofOf(change: FrameChange): Buffer {
    return stepFrame({ send: 'proof', change }, dialled().state).bytes;
  }

  it('dials with a hello and a proof that a member checks with the handshake module and takes', () => {
    const { state, hello, welcome } = dialled();
    expect(hello).toEqual(helloFrame(5, Buffer.from('11'.repeat(32), 'hex')));
    const proof = decodeProof(stepFrame({ send: 'proof', change: { kind: 'none' } }, state).bytes.subarray(4));
    expect(() => checkDialerProof(fuzzPeerSecret, hello, welcome, proof)).not.toThrow();
  });

  it('forges proofs that a member refuses, every one of them, and edits proofs so that they no longer check out', () => {
    const { hello, welcome } = dialled();
    const refuses = (bytes: Buffer) => () => checkDialerProof(fuzzPeerSecret, hello, welcome, decodeProof(bytes.subarray(4)));
    for (const how of forgeries) expect(refuses(proofOf({ kind: 'forged', how })), how).toThrow(HandshakeRefused);
    for (const how of ['bit flipped', 'truncated', 'extended'] as const) {
      for (const at of [0, 5, 31]) expect(refuses(proofOf({ kind: 'proofBytes', how, at })), `${how} ${at}`).toThrow(HandshakeRefused);
    }
    for (const value of ['no bytes', '31 bytes', 'other 32 bytes', 'a string', 'null', 'absent'] as const) {
      expect(refuses(proofOf({ kind: 'field', field: 'proof', value })), value).toThrow(HandshakeRefused);
    }
  });

  it('answers a member\'s dial with a welcome it takes, and with forged or changed welcomes it refuses', () => {
    const { state, hello } = answering();
    const welcomeOf = (change: FrameChange): Buffer => stepFrame({ send: 'welcome', change }, { ...state, welcome: null }).bytes;
    const takes = (bytes: Buffer) => () => answerWelcome(fuzzPeerSecret, hello, 1, decodeWelcome(bytes.subarray(4)));
    expect(takes(welcomeOf({ kind: 'none' }))).not.toThrow();
    for (const how of forgeries) expect(takes(welcomeOf({ kind: 'forged', how })), how).toThrow(HandshakeRefused);
    const refusedChanges: FrameChange[] = [
      { kind: 'field', field: 'sid', value: 'the dialer\'s id' },
      { kind: 'field', field: 'sid', value: 'a larger voter id' },
      { kind: 'field', field: 'version', value: 'version + 1' },
      { kind: 'field', field: 'nonce', value: 'other 32 bytes' },
      { kind: 'field', field: 'nonce', value: '31 bytes' },
      { kind: 'field', field: 'welcome', value: 'another tag' },
      { kind: 'field', field: 'proof', value: 'absent' },
      { kind: 'proofBytes', how: 'bit flipped', at: 9 },
    ];
    for (const change of refusedChanges) expect(takes(welcomeOf(change)), JSON.stringify(change)).toThrow(HandshakeRefused);
  });

  it('sends oversized and cut frames as the plan says', () => {
    const { state } = dialled();
    const long = stepFrame({ send: 'hello', change: { kind: 'length', length: 4097 } }, state).bytes;
    expect(long.readUInt32BE(0)).toBe(4097);
    const whole = stepFrame({ send: 'hello', change: { kind: 'none' } }, state).bytes;
    const cut = stepFrame({ send: 'hello', change: { kind: 'cut', keep: 10 } }, state).bytes;
    expect(cut).toEqual(whole.subarray(0, 10));
  });
});
