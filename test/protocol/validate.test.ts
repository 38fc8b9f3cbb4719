// The request rules one by one, as functions: the field each refusal names and why, so that a
// fuzzer (or a person reading a log line) can tell which rule refused a request.
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { ErrorCode, OpCode } from '../../src/protocol/constants.js';
import type { ACL, CreateRequest, MultiOp } from '../../src/protocol/records.js';
import { InvalidRequest, dnProblem, parseIpPattern, validateAcl, validateRequest, type ValidationContext } from '../../src/protocol/validate.js';

const ctx: ValidationContext = { authIds: [{ scheme: 'ip', id: '127.0.0.1' }], extendedTypesEnabled: true };

function refusal(fn: () => void): { code: number; field: string; problem: string; opIndex: number } {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidRequest) return { code: err.code, field: err.field, problem: err.problem, opIndex: err.opIndex };
    throw err;
  }
  throw new Error('not refused');
}

const entry = (scheme: string | null, id: string | null, perms = 31): ACL => ({ perms, id: { scheme: scheme as string, id: id as string } });

describe('ip ids', () => {
  it.each([
    ['10.1.2.3', 4, 32],
    ['10.0.0.0/8', 4, 8],
    ['010.0.0.1', 4, 32],
    ['::1', 16, 128],
    ['::', 16, 128],
    ['fe80::/10', 16, 10],
    ['1:2:3:4:5:6:7:8', 16, 128],
    ['::ffff:1.2.3.4', 4, 32],
  ])('%s is an address of %i bytes with a /%i prefix', (id, bytes, bits) => {
    const parsed = parseIpPattern(id);
    expect(parsed?.bytes.length).toBe(bytes);
    expect(parsed?.bits).toBe(bits);
  });

  it.each(['localhost', '10.0', '256.0.0.1', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/8/9', '10.0.0.0/ 8', '1::2::3', '1:2:3:4::5:6:7:8', '1:2:3', 'fe80::/129', 'fe80::1%eth0', ''])('%j is not', (id) => {
    expect(parseIpPattern(id)).toBeNull();
  });
});

describe('x509 subject DNs', () => {
  it.each(['CN=alice', 'CN=alice,OU=Eng,O=Example\\, Inc.,C=US', 'CN=alice+UID=7, O="Example, Inc.", C=US', '1.2.840.113549.1.9.1=#0403616263,CN=x', 'CN=a\\2Cb', 'CN=a;O=b', 'CN='])('%j is one', (dn) => {
    expect(dnProblem(dn)).toBeNull();
  });

  it.each([
    ['', /empty/],
    ['alice', /no '='/],
    ['CN=alice,', /ends with/],
    ['CN=a,=b', /not a keyword/],
    ['C N=a', /not a keyword/],
    ['CN="open', /closing quote/],
    ['CN=a\\q', /bad escape/],
    ['CN=#abc', /whole bytes/],
    ['CN=a<b', /unescaped '<'/],
    ['CN=\ufffd', /not UTF-8/],
  ])('%j is not: %s', (dn, why) => {
    expect(dnProblem(dn)).toMatch(why);
  });
});

describe('ACL lists', () => {
  it('names the entry and field at fault', () => {
    expect(refusal(() => validateAcl([entry('world', 'anyone'), entry(null, 'anyone')], [], 'acl'))).toEqual({
      code: ErrorCode.INVALIDACL, field: 'acl[1].scheme', problem: 'is null', opIndex: -1,
    });
    expect(refusal(() => validateAcl([entry('digest', 'bob:abc')], [], 'acl')).field).toBe('acl[0].id');
    expect(refusal(() => validateAcl([entry('world', 'anyone', 0)], [], 'acl')).problem).toMatch(/permission bits/);
    expect(refusal(() => validateAcl([], [], 'acl')).problem).toBe('is empty');
  });

  it('takes auth only from a connection holding an authenticated id (not ip, world or super)', () => {
    const auth = [entry('auth', null)];
    expect(refusal(() => validateAcl(auth, [{ scheme: 'ip', id: '1.2.3.4' }, { scheme: 'super', id: '' }], 'acl')).code).toBe(ErrorCode.INVALIDACL);
    expect(() => validateAcl(auth, [{ scheme: 'digest', id: 'bob:0d7iWdGxSO3X3B8lt5RmKfZ0fVg=' }], 'acl')).not.toThrow();
  });

  it('reads a null id (other than auth) as ZooKeeper does: it cannot, so MARSHALLINGERROR', () => {
    expect(() => validateAcl([entry('ip', null)], [], 'acl')).toThrow(ProtocolError);
    expect(() => validateAcl([entry('ip', null)], [], 'acl')).toThrow(/acl\[0\]\.id is null/);
  });
});

describe('requests', () => {
  const create = (c: Partial<CreateRequest>): CreateRequest => ({ path: '/a', data: null, acl: [entry('world', 'anyone')], flags: 0, ...c });

  it('refuses TTL nodes with UNIMPLEMENTED when extended types are off', () => {
    const off = { ...ctx, extendedTypesEnabled: false };
    expect(refusal(() => validateRequest(OpCode.createTTL, create({ flags: 5, ttl: 10n }), off)).code).toBe(ErrorCode.UNIMPLEMENTED);
    expect(() => validateRequest(OpCode.createTTL, create({ flags: 5, ttl: 10n }), ctx)).not.toThrow();
  });

  it('checks a sequential path with its suffix, and a parent that cannot exist is NONODE', () => {
    expect(() => validateRequest(OpCode.create, create({ path: '/a/', flags: 2 }), ctx)).not.toThrow();
    expect(refusal(() => validateRequest(OpCode.create, create({ path: '/a/', flags: 0 }), ctx)).code).toBe(ErrorCode.BADARGUMENTS);
    expect(refusal(() => validateRequest(OpCode.create, create({ path: '/a/../b' }), ctx)).code).toBe(ErrorCode.NONODE);
  });

  it('flags before the path, the ACL before the parent, as ZooKeeper checks them', () => {
    expect(refusal(() => validateRequest(OpCode.create, create({ path: 'x', flags: 9 }), ctx)).field).toBe('flags');
    expect(refusal(() => validateRequest(OpCode.create, create({ path: '/a/./b', acl: [] }), ctx)).field).toBe('acl');
  });

  it('names the op of a multi that is refused, and how many ops there are', () => {
    const ops: MultiOp[] = [
      { type: OpCode.check, request: { path: '/a', version: -1 } },
      { type: OpCode.delete, request: { path: '/zookeeper', version: -1 } },
      { type: OpCode.setData, request: { path: 'bad', data: null, version: -1 } },
    ];
    let caught: InvalidRequest | undefined;
    try {
      validateRequest(OpCode.multi, ops, ctx);
    } catch (err) {
      caught = err as InvalidRequest;
    }
    expect(caught).toBeInstanceOf(InvalidRequest);
    expect([caught!.code, caught!.field, caught!.opIndex, caught!.opCount]).toEqual([ErrorCode.BADARGUMENTS, 'ops[1](delete).path', 1, 3]);
    expect(caught!.message).toBe("BADARGUMENTS: ops[1](delete).path '/zookeeper' is a built-in node");
  });

  it('reads pass with any path but one holding a NUL in exists', () => {
    expect(() => validateRequest(OpCode.getData, { path: 'not a path', watch: false }, ctx)).not.toThrow();
    expect(refusal(() => validateRequest(OpCode.exists, { path: '/\u0000', watch: false }, ctx)).code).toBe(ErrorCode.BADARGUMENTS);
  });
});
