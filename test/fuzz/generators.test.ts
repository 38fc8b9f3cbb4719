import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpCode } from '../../src/protocol/constants.js';
import { JuteReader } from '../../src/protocol/jute.js';
import { ConnectRequestCodec, CreateRequestCodec, RequestHeaderCodec, requestCodecs } from '../../src/protocol/records.js';
import { clientCase, clientOpcodes, encodeRequest, loadClientCorpus, recordGenerators } from '../../src/fuzz/client-cases.js';
import { mutateField, writeFielded } from '../../src/fuzz/jute-fields.js';
import { peerCase, peerMessageTypes, sampleMessages } from '../../src/fuzz/peer-cases.js';
import { captureHello, checkEncoderMatchesTransport, decodePeerBody } from '../../src/fuzz/peer-wire.js';
import { Prng } from '../../src/fuzz/rng.js';
import { repoRoot } from '../../src/fuzz/servers.js';

// The fuzzer's generators: one seed gives the same bytes every time, every opcode and every
// peer message type is produced, and mutations land where they say they do.

const corpus = loadClientCorpus(join(repoRoot, 'test', 'fixtures', 'zk38-frames.json'));

function opcodeOf(frame: Buffer): number {
  return frame.readInt32BE(8);
}

describe('fuzz case generators', () => {
  it('regenerate a case byte for byte from its seed and number, and differ between seeds', () => {
    for (const index of [0, 1, 77, 4_000_000]) {
      const a = clientCase(42, index, corpus).inputs.map((i) => i.bytes.toString('hex'));
      expect(clientCase(42, index, corpus).inputs.map((i) => i.bytes.toString('hex'))).toEqual(a);
      expect(clientCase(43, index, corpus).inputs.map((i) => i.bytes.toString('hex'))).not.toEqual(a);
      const p = peerCase(42, index).inputs.map((i) => i.bytes.toString('hex'));
      expect(peerCase(42, index).inputs.map((i) => i.bytes.toString('hex'))).toEqual(p);
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

  it('send every peer message type, and hellos that are mutated or missing, within 300 cases', () => {
    const types = new Set<string>();
    const hellos = new Set<string>();
    for (let index = 0; index < 300; index++) {
      const c = peerCase(7, index);
      hellos.add(c.hello.kind);
      for (const input of c.inputs) {
        try {
          const value = decodePeerBody(input.bytes.subarray(4)) as { type?: unknown };
          if (typeof value?.type === 'string') types.add(value.type);
        } catch {
          // a broken frame
        }
      }
    }
    for (const type of peerMessageTypes) expect(types.has(type), type).toBe(true);
    expect([...hellos].sort()).toEqual(['mutated', 'none', 'valid']);
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
  it('packs every message type byte for byte as the peer transport does', async () => {
    await expect(checkEncoderMatchesTransport(sampleMessages())).resolves.toBeUndefined();
  });

  it('says hello with the bytes a real transport writes, one hello per claimed sid', async () => {
    const as4 = await captureHello(4, 1);
    const as3 = await captureHello(3, 1);
    expect(as4.readUInt32BE(0)).toBe(as4.length - 4);
    expect(as4.equals(as3)).toBe(false);
    expect((await captureHello(4, 1)).equals(as4)).toBe(true);
  });
});
