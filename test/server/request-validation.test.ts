// One case per validation rule (src/protocol/validate.ts), as raw frames to a server in this
// process: the request is refused with ZooKeeper's code (or answered MARSHALLINGERROR and its
// connection closed) and nothing is committed: the zxid does not move, the tree is unchanged.
// test/conformance/request-validation.test.ts proves the codes against ZooKeeper 3.8.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OpCode } from '../../src/protocol/constants.js';
import type { ServerNode } from '../../src/server/node.js';
import {
  RawSession,
  createBody,
  multiBody,
  multiResults,
  pathBody,
  pathWatchBody,
  reconfigBody,
  setAclBody,
  setDataBody,
  setWatchesBody,
  type RawAcl,
  type RawCreate,
} from '../protocol/raw-requests.js';
import { startServer } from './harness.js';

let server: ServerNode | undefined;
const srv = (): ServerNode => {
  if (server === undefined) throw new Error('server not started');
  return server;
};

beforeAll(async () => {
  server = await startServer({ extendedTypesEnabled: true });
  const s = await RawSession.open(srv().port);
  expect((await s.answer(OpCode.create, createBody({ path: '/v' }))).err).toBe(0);
  s.close();
});
afterAll(async () => {
  await server?.stop();
});

const MARSHALLING = 'MARSHALLINGERROR and close';
type Expected = number | typeof MARSHALLING;

const acl = (entry: Partial<RawAcl>): RawAcl[] => [{ perms: 31, scheme: 'world', id: 'anyone', ...entry }];
const create = (c: Partial<RawCreate>): [number, Buffer] => [OpCode.create, createBody({ path: '/n', ...c })];

const rules: [string, [number, Buffer], Expected][] = [
  // ACL lists
  ['ACL scheme null', create({ acl: acl({ scheme: null }) }), ErrorCode.INVALIDACL],
  ['ACL list null', create({ acl: null }), ErrorCode.INVALIDACL],
  ['ACL list empty', create({ acl: [] }), ErrorCode.INVALIDACL],
  ['ACL scheme unknown', create({ acl: acl({ scheme: 'sasl', id: 'alice' }) }), ErrorCode.INVALIDACL],
  ['ACL scheme super', create({ acl: acl({ scheme: 'super', id: '' }) }), ErrorCode.INVALIDACL],
  ['ACL perms 0', create({ acl: acl({ perms: 0 }) }), ErrorCode.INVALIDACL],
  ['ACL perms 32', create({ acl: acl({ perms: 32 }) }), ErrorCode.INVALIDACL],
  ['ACL world id not anyone', create({ acl: acl({ id: 'someone' }) }), ErrorCode.INVALIDACL],
  ['ACL world id null', create({ acl: acl({ id: null }) }), MARSHALLING],
  ['ACL digest id without a hash', create({ acl: acl({ scheme: 'digest', id: 'alice' }) }), ErrorCode.INVALIDACL],
  ['ACL digest id with a cleartext password', create({ acl: acl({ scheme: 'digest', id: 'alice:secret' }) }), ErrorCode.INVALIDACL],
  ['ACL digest id null', create({ acl: acl({ scheme: 'digest', id: null }) }), MARSHALLING],
  ['ACL ip id not an address', create({ acl: acl({ scheme: 'ip', id: 'localhost' }) }), ErrorCode.INVALIDACL],
  ['ACL ip prefix too long (v4)', create({ acl: acl({ scheme: 'ip', id: '10.0.0.0/33' }) }), ErrorCode.INVALIDACL],
  ['ACL ip prefix too long (v6)', create({ acl: acl({ scheme: 'ip', id: 'fe80::/129' }) }), ErrorCode.INVALIDACL],
  ['ACL ip v6 with two ::', create({ acl: acl({ scheme: 'ip', id: '1::2::3' }) }), ErrorCode.INVALIDACL],
  ['ACL auth without an authenticated id', create({ acl: acl({ scheme: 'auth', id: '' }) }), ErrorCode.INVALIDACL],
  ['ACL x509 id not a DN', create({ acl: acl({ scheme: 'x509', id: 'alice' }) }), ErrorCode.INVALIDACL],
  ['ACL x509 DN with a dangling comma', create({ acl: acl({ scheme: 'x509', id: 'CN=alice,' }) }), ErrorCode.INVALIDACL],
  ['setACL with a null scheme', [OpCode.setACL, setAclBody('/v', acl({ scheme: null }))], ErrorCode.INVALIDACL],
  // paths
  ['create path null', create({ path: null }), MARSHALLING],
  ['create path without /', create({ path: 'n' }), ErrorCode.BADARGUMENTS],
  ['create path with NUL', create({ path: '/n\u0000' }), ErrorCode.BADARGUMENTS],
  ['create path ending in /', create({ path: '/n/' }), ErrorCode.BADARGUMENTS],
  ['create path not UTF-8', create({ path: Buffer.from([0x2f, 0xff]) }), ErrorCode.BADARGUMENTS],
  ['create path with a surrogate (non-BMP character)', create({ path: '/\u{1f600}' }), ErrorCode.BADARGUMENTS],
  ['create path whose parent is not a valid path', create({ path: '/v/./n' }), ErrorCode.NONODE],
  ['setData path relative', [OpCode.setData, setDataBody('/v/..', null)], ErrorCode.BADARGUMENTS],
  ['setACL path empty', [OpCode.setACL, setAclBody('', acl({}))], ErrorCode.BADARGUMENTS],
  ['delete of /zookeeper/config', [OpCode.delete, pathBody('/zookeeper/config', -1)], ErrorCode.BADARGUMENTS],
  ['deleteContainer of /', [OpCode.deleteContainer, pathBody('/')], ErrorCode.BADARGUMENTS],
  ['delete path null', [OpCode.delete, pathBody(null, -1)], MARSHALLING],
  ['exists path with NUL', [OpCode.exists, pathWatchBody('/\u0000')], ErrorCode.BADARGUMENTS],
  // create modes and TTLs
  ['create flags 7', create({ flags: 7 }), ErrorCode.BADARGUMENTS],
  ['create flags TTL without createTTL', create({ flags: 6 }), ErrorCode.BADARGUMENTS],
  ['createContainer without the container flag', [OpCode.createContainer, createBody({ path: '/n', flags: 0 })], ErrorCode.BADARGUMENTS],
  ['createTTL ttl 0', [OpCode.createTTL, createBody({ path: '/n', flags: 5, ttl: 0n })], ErrorCode.BADARGUMENTS],
  ['createTTL ttl negative', [OpCode.createTTL, createBody({ path: '/n', flags: 5, ttl: -5n })], ErrorCode.BADARGUMENTS],
  ['createTTL ttl above 40 bits', [OpCode.createTTL, createBody({ path: '/n', flags: 6, ttl: 1n << 40n })], ErrorCode.BADARGUMENTS],
  ['createTTL in a persistent mode', [OpCode.createTTL, createBody({ path: '/n', flags: 0, ttl: 10n })], ErrorCode.BADARGUMENTS],
  // watches
  ['addWatch mode 2', [OpCode.addWatch, pathBody('/v', 2)], MARSHALLING],
  ['checkWatches type 6', [OpCode.checkWatches, pathBody('/v', 6)], MARSHALLING],
  ['removeWatches type 0', [OpCode.removeWatches, pathBody('/v', 0)], MARSHALLING],
  ['setWatches null data list', [OpCode.setWatches, setWatchesBody(0n, [null, [], []])], MARSHALLING],
  ['setWatches2 null recursive list', [OpCode.setWatches2, setWatchesBody(0n, [[], [], [], [], null])], MARSHALLING],
  // reconfig
  ['reconfig (disabled)', [OpCode.reconfig, reconfigBody('server.4=127.0.0.1:1:2;3', null, null)], ErrorCode.RECONFIGDISABLED],
  ['reconfig that does not decode', [OpCode.reconfig, Buffer.from([0, 0, 0, 9])], MARSHALLING],
];

describe('each rule refuses its request and commits nothing', () => {
  it.each(rules)('%s', async (_name, [opcode, body], expected) => {
    const s = await RawSession.open(srv().port);
    try {
      const zxid = srv().tree.lastZxid;
      const nodes = srv().tree.nodeCount;
      const reply = await s.call(opcode, body);
      if (reply === 'closed') throw new Error('closed without an answer');
      if (expected === MARSHALLING) {
        expect(reply.err).toBe(ErrorCode.MARSHALLINGERROR);
        expect(await s.closedByServer()).toBe(true);
      } else {
        expect(reply.err).toBe(expected);
        expect(reply.zxid).toBe(zxid);
        expect(await s.closedByServer()).toBe(false);
      }
      expect(srv().tree.lastZxid).toBe(zxid);
      expect(srv().tree.nodeCount).toBe(nodes);
    } finally {
      s.close();
    }
  });

  it('a multi with one bad op commits none of its ops: OK before it, its code, RUNTIMEINCONSISTENCY after', async () => {
    const s = await RawSession.open(srv().port);
    const zxid = srv().tree.lastZxid;
    const reply = await s.answer(
      OpCode.multi,
      multiBody([
        { type: OpCode.create, create: { path: '/m1' } },
        { type: OpCode.setData, path: '/v', data: Buffer.from('x') },
        { type: OpCode.createTTL, create: { path: '/m2', flags: 5, ttl: 0n } },
        { type: OpCode.check, path: '/v' },
      ]),
    );
    expect(reply.err).toBe(0);
    expect(multiResults(reply.body)).toEqual([
      [-1, 0],
      [-1, 0],
      [-1, ErrorCode.BADARGUMENTS],
      [-1, ErrorCode.RUNTIMEINCONSISTENCY],
    ]);
    expect(srv().tree.lastZxid).toBe(zxid);
    expect(srv().tree.getNode('/m1')).toBeUndefined();
    s.close();
  });

  it('valid edge cases still commit: an IPv6 ip id, an x509 DN, a sequential create ending in /', async () => {
    const s = await RawSession.open(srv().port);
    const zxid = srv().tree.lastZxid;
    expect((await s.answer(...create({ path: '/ip6', acl: acl({ scheme: 'ip', id: 'fe80::/10' }) }))).err).toBe(0);
    expect((await s.answer(...create({ path: '/x509', acl: acl({ scheme: 'x509', id: 'CN=alice+UID=7, O="Example, Inc.", C=US' }) }))).err).toBe(0);
    expect((await s.answer(...create({ path: '/v/', flags: 2 }))).err).toBe(0);
    expect(srv().tree.lastZxid).toBe(zxid + 3n);
    s.close();
  });
});
