// The real Apache ZooKeeper 3.8 Java client (org.apache.zookeeper.ZooKeeper),
// driven by test/conformance/java/ZkDriver.java.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileDriver,
  dumpServerLogOnFailure,
  runDriver,
  startServer,
  superPassword,
  type ScenarioRun,
  type ServerHandle,
} from './harness.js';
import { scaled } from '../../src/testing/wait.js';

let server: ServerHandle | undefined;
const srv = (): ServerHandle => {
  if (server === undefined) throw new Error('server not started');
  return server;
};

beforeAll(async () => {
  // javac and the server start in parallel; both take a few seconds.
  const [started] = await Promise.all([startServer(), compileDriver()]);
  server = started;
});
afterAll(async () => {
  await server?.stop();
});
dumpServerLogOnFailure(() => server);

type Line = Record<string, unknown>;

async function run(scenario: string, ...args: string[]): Promise<ScenarioRun> {
  const result = await runDriver(srv(), scenario, args);
  expect(result.result.code, result.transcript).toBe(0);
  // (Closed state events may still trail the final line.)
  expect(result.events.some((line) => line.ev === 'done'), result.transcript).toBe(true);
  return result;
}

function step(result: ScenarioRun, name: string): Line {
  const found = result.events.find((line) => line.ev === 'step' && line.step === name);
  expect(found, `step ${name} missing\n${result.transcript}`).toBeDefined();
  return found as Line;
}

function ok(result: ScenarioRun, name: string): unknown {
  const line = step(result, name);
  expect(line.ok, `step ${name} failed: ${JSON.stringify(line)}\n${result.transcript}`).toBe(true);
  return line.value;
}

function err(result: ScenarioRun, name: string, code: number): Line {
  const line = step(result, name);
  expect({ ok: line.ok, code: line.code }, `step ${name}: ${JSON.stringify(line)}\n${result.transcript}`).toEqual({ ok: false, code });
  return line;
}

/** Watch events (type, path) of one watcher, in delivery order. */
function watchesOf(result: ScenarioRun, watcher: string, from = 0, to = Number.POSITIVE_INFINITY): Array<[string, string | null]> {
  return result.events
    .slice(from, to)
    .filter((line) => line.ev === 'watch' && line.w === watcher)
    .map((line) => [line.type as string, line.path as string | null]);
}

function markIndex(result: ScenarioRun, mark: string): number {
  const index = result.events.findIndex((line) => line.ev === 'mark' && line.mark === mark);
  expect(index, `mark ${mark} missing\n${result.transcript}`).toBeGreaterThanOrEqual(0);
  return index;
}

interface StatJson {
  czxid: number;
  mzxid: number;
  pzxid: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: string;
  dataLength: number;
  numChildren: number;
}

const NONODE = -101;
const NOAUTH = -102;
const BADVERSION = -103;
const NOCHILDRENFOREPHEMERALS = -108;
const NODEEXISTS = -110;
const NOTEMPTY = -111;
const SESSIONEXPIRED = -112;
const INVALIDACL = -114;
const AUTHFAILED = -115;
const BADARGUMENTS = -8;
const RUNTIMEINCONSISTENCY = -2;

describe('Java client: node types', () => {
  it('creates persistent, ephemeral, sequential, container and TTL nodes with the right Stat', async () => {
    const r = await run('nodes', '/jnodes');
    const sessionId = ok(r, 'sessionId') as string;

    const persistent = ok(r, 'persistent') as { path: string; stat: StatJson };
    expect(persistent.path).toBe('/jnodes/p');
    expect(persistent.stat).toMatchObject({ version: 0, cversion: 0, aversion: 0, ephemeralOwner: '0x0', dataLength: 5, numChildren: 0 });
    expect(persistent.stat.czxid).toBe(persistent.stat.mzxid);
    expect(persistent.stat.pzxid).toBe(persistent.stat.czxid);
    err(r, 'persistentExists', NODEEXISTS);

    const ephemeral = ok(r, 'ephemeral') as { path: string; stat: StatJson };
    expect(ephemeral.stat.ephemeralOwner).toBe(sessionId);
    err(r, 'ephemeralChild', NOCHILDRENFOREPHEMERALS);

    // Sequence numbers: 10 digits from the parent's creation counter, which
    // deletes do not lower and non-sequential creates also advance.
    expect(ok(r, 'seq1')).toBe('/jnodes/p/s-0000000000');
    expect(ok(r, 'seq2')).toBe('/jnodes/p/s-0000000001');
    expect(ok(r, 'plain')).toBe('/jnodes/p/plain');
    expect(ok(r, 'seq3')).toBe('/jnodes/p/s-0000000003');
    expect(ok(r, 'seqTrailingSlash')).toBe('/jnodes/p/0000000004');
    const parent = ok(r, 'parentStat') as StatJson;
    // 5 creations + 1 deletion; numChildren 4.
    expect(parent).toMatchObject({ cversion: 6, numChildren: 4 });
    expect(ok(r, 'children')).toEqual(['0000000004', 'plain', 's-0000000001', 's-0000000003']);

    const container = ok(r, 'container') as { path: string; stat: StatJson };
    expect(container.path).toBe('/jnodes/c');
    expect(container.stat).toMatchObject({ ephemeralOwner: '0x0', dataLength: 5, version: 0 });
    expect(ok(r, 'containerChild')).toBe('/jnodes/c/child');
    expect(ok(r, 'containerStat')).toMatchObject({ numChildren: 1, cversion: 1, ephemeralOwner: '0x0' });

    const ttl = ok(r, 'ttl') as { path: string; stat: StatJson };
    expect(ttl.path).toBe('/jnodes/t');
    expect(ttl.stat).toMatchObject({ ephemeralOwner: '0x0', dataLength: 5 });
    const ttlSeq = ok(r, 'ttlSequential') as { path: string; stat: StatJson };
    expect(ttlSeq.path).toBe('/jnodes/t/s-0000000000');
    expect(ttlSeq.stat.ephemeralOwner).toBe('0x0');
    err(r, 'noParent', NONODE);
  });

  it('keeps null and empty data apart, versions writes, and guards deletes', async () => {
    const r = await run('nodes', '/jnodes2');
    expect(ok(r, 'nullData')).toEqual({ isNull: true, dataLength: 0 });
    expect(ok(r, 'emptyData')).toEqual({ isNull: false, length: 0 });
    const afterSet = ok(r, 'setData') as StatJson;
    expect(afterSet.version).toBe(1);
    expect(afterSet.mzxid).toBeGreaterThan(afterSet.czxid);
    err(r, 'setDataBadVersion', BADVERSION);
    expect(ok(r, 'getData')).toMatchObject({ data: 'v1', stat: { version: 1, dataLength: 2 } });
    err(r, 'deleteNotEmpty', NOTEMPTY);
    err(r, 'deleteBadVersion', BADVERSION);
    err(r, 'deleteMissing', NONODE);
    err(r, 'deleteZookeeper', BADARGUMENTS);
    expect(ok(r, 'zookeeperConfigStat')).toMatchObject({ aversion: -1, czxid: 0, numChildren: 0 });
    expect(ok(r, 'zookeeperQuotaExists')).toBe(true);
  });
});

describe('Java client: one-shot watches', () => {
  it('fires data, exists and child watches once each, with exact types and paths', async () => {
    const r = await run('watches', '/jwatch');
    expect(ok(r, 'getDataWatch')).toBe('0');
    expect(ok(r, 'existsWatchMissing')).toBeNull();
    expect(ok(r, 'existsWatchPresent')).toBe(true);
    expect(ok(r, 'childWatch')).toEqual([]);
    err(r, 'getDataMissingWatch', NONODE);
    err(r, 'childWatchMissing', NONODE);

    const phase1 = markIndex(r, 'phase1');
    const phase2 = markIndex(r, 'phase2');
    const phase3 = markIndex(r, 'phase3');
    expect(watchesOf(r, 'data', 0, phase1)).toEqual([['NodeDataChanged', '/jwatch/d']]);
    expect(watchesOf(r, 'existsPresent', 0, phase1)).toEqual([['NodeDataChanged', '/jwatch/d']]);
    expect(watchesOf(r, 'exists', 0, phase1)).toEqual([['NodeCreated', '/jwatch/later']]);
    expect(watchesOf(r, 'child', 0, phase1)).toEqual([['NodeChildrenChanged', '/jwatch/kids']]);

    // One-shot: phase 2 repeats every change and nothing but the fence fires.
    // getData/getChildren on a missing node left no watch behind.
    const phase2Events = r.events.slice(phase1 + 1, phase2).filter((line) => line.ev === 'watch' && line.w !== 'fence');
    expect(phase2Events, r.transcript).toEqual([]);
    for (const watcher of ['data', 'existsPresent', 'exists', 'child', 'dataMissing', 'childMissing']) {
      expect(watchesOf(r, watcher).filter(([type]) => type !== 'None'), watcher).toHaveLength(1 - (watcher.endsWith('Missing') ? 1 : 0));
    }

    expect(watchesOf(r, 'dataOnDeleted', phase2, phase3)).toEqual([['NodeDeleted', '/jwatch/kids/a']]);
    expect(watchesOf(r, 'existsOnDeleted', phase2, phase3)).toEqual([['NodeDeleted', '/jwatch/kids/a']]);
    expect(watchesOf(r, 'childOnDeleted', phase2, phase3)).toEqual([['NodeDeleted', '/jwatch/kids/a']]);
    expect(watchesOf(r, 'parentChild', phase2, phase3)).toEqual([['NodeChildrenChanged', '/jwatch/kids']]);
  });

  it('delivers the notification for a connection\'s own write before the write\'s reply', async () => {
    const r = await run('watches', '/jwatch-self');
    const mark = r.events.find((line) => line.ev === 'mark' && line.mark === 'selfReplied');
    expect(mark?.eventsSeen, r.transcript).toBe(1);
    expect(watchesOf(r, 'self')).toEqual([['NodeDataChanged', '/jwatch-self/d']]);
  });

  it('fires nothing for setACL or sync', async () => {
    const r = await run('watches', '/jwatch-acl');
    const phase5 = markIndex(r, 'phase5');
    expect(watchesOf(r, 'aclData', 0, phase5)).toEqual([]);
  });
});

describe('Java client: persistent watches (addWatch)', () => {
  it('PERSISTENT fires for the node and its children list; PERSISTENT_RECURSIVE for every descendant', async () => {
    const r = await run('persistent', '/jpw');
    ok(r, 'addPersistent');
    ok(r, 'addRecursive');
    const fired = markIndex(r, 'fired');
    expect(watchesOf(r, 'persistent', 0, fired)).toEqual([
      ['NodeCreated', '/jpw/p'],
      ['NodeDataChanged', '/jpw/p'],
      ['NodeChildrenChanged', '/jpw/p'],
      ['NodeChildrenChanged', '/jpw/p'],
      ['NodeDeleted', '/jpw/p'],
      ['NodeCreated', '/jpw/p'],
    ]);
    // Never NodeChildrenChanged; /jpw/rx is a string prefix, not a descendant.
    expect(watchesOf(r, 'recursive', 0, fired)).toEqual([
      ['NodeCreated', '/jpw/r'],
      ['NodeCreated', '/jpw/r/a'],
      ['NodeCreated', '/jpw/r/a/b'],
      ['NodeDataChanged', '/jpw/r/a/b'],
      ['NodeDataChanged', '/jpw/r'],
      ['NodeDeleted', '/jpw/r/a/b'],
    ]);
  });

  it('stops firing after removeWatches', async () => {
    const r = await run('persistent', '/jpw2');
    const fired = markIndex(r, 'fired');
    const removed = markIndex(r, 'removed');
    ok(r, 'removePersistent');
    ok(r, 'removeRecursive');
    expect(watchesOf(r, 'persistent', fired, removed)).toEqual([['PersistentWatchRemoved', '/jpw2/p']]);
    expect(watchesOf(r, 'recursive', fired, removed)).toEqual([['PersistentWatchRemoved', '/jpw2/r']]);
    const deep = markIndex(r, 'deep');
    // The fence node is under the watched base too, but the Java client hands one event to
    // its watchers in no fixed order: the fence watcher may return (and the mark be printed)
    // before the recursive watcher has recorded the fence's NodeCreated. So fences are not
    // counted here.
    const deepEvents = watchesOf(r, 'deep', removed, deep).filter(([, path]) => !String(path).includes('/fence-'));
    expect(deepEvents).toEqual([
      ['NodeCreated', '/jpw2/r/after/deeper'],
      ['NodeDeleted', '/jpw2/r/after/deeper'],
    ]);
  });
});

describe('Java client: ACLs', () => {
  let r: ScenarioRun;
  beforeAll(async () => {
    r = await run('acl', '/jacl', superPassword);
  });

  it('reports identities with whoAmI', () => {
    const sortKey = (list: unknown): unknown[] =>
      [...(list as Array<{ scheme: string; user: string }>)].sort((a, b) => `${a.scheme}:${a.user}`.localeCompare(`${b.scheme}:${b.user}`));
    expect(sortKey(ok(r, 'whoAmIUser'))).toEqual([
      { scheme: 'digest', user: 'alice' },
      { scheme: 'ip', user: '127.0.0.1' },
    ]);
    expect(ok(r, 'whoAmIAnon')).toEqual([{ scheme: 'ip', user: '127.0.0.1' }]);
    // A digest matching superDigest also grants the "super" id.
    expect(sortKey(ok(r, 'whoAmISuper'))).toEqual([
      { scheme: 'digest', user: 'super' },
      { scheme: 'ip', user: '127.0.0.1' },
      { scheme: 'super', user: '' },
    ]);
  });

  it('auth scheme expands to the caller\'s digest id; others get NOAUTH on each op', () => {
    expect(ok(r, 'authCreate')).toBe('/jacl/auth');
    expect(ok(r, 'authAcl')).toEqual([{ perms: 31, scheme: 'digest', id: 'alice:aJ/Pdx7TadRgI84JsdYLXEn9EPw=' }]);
    err(r, 'authCreateAnon', INVALIDACL);
    expect(ok(r, 'authOwnerRead')).toBe('secret');
    for (const name of ['authOtherRead', 'authAnonRead', 'authOtherWrite', 'authOtherCreate', 'authOtherChildren', 'authOtherSetAcl', 'authOtherGetAcl']) {
      err(r, name, NOAUTH);
    }
  });

  it('super (superDigest) passes every check', () => {
    expect(ok(r, 'superRead')).toBe('secret');
    expect(ok(r, 'superWrite')).toBe(1);
  });

  it('digest, world and ip schemes are matched and validated', () => {
    expect(ok(r, 'digestCreate')).toBe('/jacl/digest');
    expect(ok(r, 'digestUserRead')).toBe('d');
    err(r, 'digestOtherRead', NOAUTH);
    err(r, 'digestAnonRead', NOAUTH);
    err(r, 'digestBadId', INVALIDACL);
    err(r, 'worldBadId', INVALIDACL);
    err(r, 'unknownScheme', INVALIDACL);
    err(r, 'emptyAcl', INVALIDACL);
    expect(ok(r, 'ipLocalRead')).toBe('ip');
    expect(ok(r, 'ipRangeRead')).toBe('ip');
    err(r, 'ipRangeWrite', NOAUTH);
    err(r, 'ipOtherRead', NOAUTH);
    err(r, 'ipBadId', INVALIDACL);
  });

  it('each op needs exactly its permission bit', () => {
    // op -> permission bits that allow it
    const needs: Record<string, string[]> = {
      getData: ['READ'],
      getChildren: ['READ'],
      getAllChildrenNumber: ['READ'],
      getACL: ['READ', 'ADMIN'],
      setData: ['WRITE'],
      create: ['CREATE'],
      delete: ['DELETE'],
      setACL: ['ADMIN'],
      multiCheck: ['READ'],
    };
    for (const bit of ['READ', 'WRITE', 'CREATE', 'DELETE', 'ADMIN']) {
      for (const [op, allowed] of Object.entries(needs)) {
        const line = step(r, `perm.${bit}.${op}`);
        const label = `${op} on a node with only world:anyone ${bit}: ${JSON.stringify(line)}`;
        if (allowed.includes(bit)) expect(line.ok, label).toBe(true);
        else expect({ ok: line.ok, code: line.code }, label).toEqual({ ok: false, code: NOAUTH });
      }
      // ZooKeeper 3.8.0 does not check READ for exists; 3.8.4+/3.9.2+ do
      // (ZOOKEEPER-2590). Either is accepted, nothing else.
      const exists = step(r, `perm.${bit}.exists`);
      expect(exists.ok === true || exists.code === NOAUTH, JSON.stringify(exists)).toBe(true);
    }
    // A failed check inside multi reports NOAUTH as its per-op result.
    expect(step(r, 'perm.WRITE.multiCheck').results).toEqual([{ type: -1, class: 'ErrorResult', err: NOAUTH }]);
  });

  it('masks digest ids in getACL for callers without ADMIN', () => {
    expect(ok(r, 'getAclMaskAnon')).toEqual([
      { perms: 1, scheme: 'world', id: 'anyone' },
      { perms: 31, scheme: 'digest', id: 'alice:x' },
    ]);
    expect(ok(r, 'getAclMaskOwner')).toEqual([
      { perms: 1, scheme: 'world', id: 'anyone' },
      { perms: 31, scheme: 'digest', id: 'alice:aJ/Pdx7TadRgI84JsdYLXEn9EPw=' },
    ]);
  });

  it('an unknown auth scheme ends the connection with AuthFailed', () => {
    expect(watchesOf(r, 'bad').map(([type]) => type)).toContain('None');
    expect(r.events.some((line) => line.w === 'bad' && line.state === 'AuthFailed'), r.transcript).toBe(true);
    err(r, 'afterAuthFailed', AUTHFAILED);
  });
});

describe('Java client: multi and multiRead', () => {
  let r: ScenarioRun;
  beforeAll(async () => {
    r = await run('multi', '/jmulti');
  });

  it('applies a successful multi with one result per op', () => {
    expect(ok(r, 'multiOk')).toEqual([
      { type: 1, class: 'CreateResult', path: '/jmulti/b', hasStat: false },
      { type: 1, class: 'CreateResult', path: '/jmulti/s-0000000002', hasStat: false },
      { type: 5, class: 'SetDataResult', version: 1 },
      { type: 13, class: 'CheckResult' },
      // Container and TTL creates answer as create2 (type 15) with a Stat.
      { type: 15, class: 'CreateResult', path: '/jmulti/c', hasStat: true },
      { type: 15, class: 'CreateResult', path: '/jmulti/t', hasStat: true },
      { type: 2, class: 'DeleteResult' },
    ]);
    expect(ok(r, 'afterOk')).toEqual({ a: 'a1', bExists: false, cExists: true });
  });

  it('applies nothing when one op fails: 0 before, the code at, -2 after the failure', () => {
    const error = (code: number) => ({ type: -1, class: 'ErrorResult', err: code });
    expect(err(r, 'multiBadVersion', BADVERSION).results).toEqual([error(0), error(BADVERSION), error(RUNTIMEINCONSISTENCY)]);
    expect(err(r, 'multiNoNode', NONODE).results).toEqual([error(NONODE), error(RUNTIMEINCONSISTENCY)]);
    expect(err(r, 'multiNodeExists', NODEEXISTS).results).toEqual([error(0), error(0), error(NODEEXISTS)]);
    expect(err(r, 'multiCheckFails', BADVERSION).results).toEqual([error(BADVERSION), error(RUNTIMEINCONSISTENCY)]);
    expect(ok(r, 'afterFailed')).toEqual({ a: 'a1', version: 1, xExists: false, yExists: false });
  });

  it('lets later ops see earlier ops of the same multi', () => {
    expect(ok(r, 'multiDependent')).toEqual([
      { type: 1, class: 'CreateResult', path: '/jmulti/dep', hasStat: false },
      { type: 1, class: 'CreateResult', path: '/jmulti/dep/child', hasStat: false },
      { type: 13, class: 'CheckResult' },
      { type: 5, class: 'SetDataResult', version: 1 },
      { type: 2, class: 'DeleteResult' },
    ]);
  });

  it('multiRead answers each read independently', () => {
    expect(ok(r, 'multiRead')).toEqual([
      { type: 4, class: 'GetDataResult', data: 'a1', version: 1 },
      { type: 8, class: 'GetChildrenResult', children: [] },
      { type: -1, class: 'ErrorResult', err: NONODE },
      { type: 8, class: 'GetChildrenResult', children: ['a', 'c', 'dep', 's-0000000002', 't'] },
    ]);
    expect(ok(r, 'multiEmpty')).toEqual([]);
  });
});

describe('Java client: getEphemerals, getAllChildrenNumber, whoAmI, sync, cversion', () => {
  let r: ScenarioRun;
  beforeAll(async () => {
    r = await run('misc', '/jmisc');
  });

  it('counts all descendants', () => {
    // a, a/b, a/b/c, d, e1, a/e2, other, cont, ttl
    expect(ok(r, 'allChildrenNumber')).toBe(9);
    expect(ok(r, 'allChildrenNumberLeaf')).toBe(0);
    err(r, 'allChildrenNumberMissing', NONODE);
  });

  it('lists only the caller\'s own ephemerals, filtered by string prefix', () => {
    const mine = ['/jmisc/eph-0000000001', '/jmisc/tree/a/e2', '/jmisc/tree/e1'];
    const all = ok(r, 'ephemeralsAll') as string[];
    expect(all).toEqual(mine);
    expect(ok(r, 'ephemeralsSlash')).toEqual(mine);
    expect(ok(r, 'ephemeralsPrefix')).toEqual(['/jmisc/tree/a/e2']);
    expect(ok(r, 'ephemeralsStringPrefix')).toEqual(['/jmisc/eph-0000000001']);
    expect(ok(r, 'ephemeralsOther')).toEqual(['/jmisc/tree/other']);
  });

  it('answers whoAmI and sync', () => {
    expect(ok(r, 'whoAmI')).toEqual([{ scheme: 'ip', user: '127.0.0.1' }]);
    expect(ok(r, 'sync')).toEqual({ rc: 0, path: '/jmisc/tree' });
    // sync does not check existence.
    expect(ok(r, 'syncMissing')).toEqual({ rc: 0, path: '/jmisc/none' });
  });

  it('reports cversion as creations + deletions while sequence numbers count creations only', () => {
    expect(ok(r, 'cversion')).toMatchObject({ cversion: 3, numChildren: 1 });
    expect(ok(r, 'cversionSeq')).toBe('/jmisc/cv/s-0000000002');
    expect(ok(r, 'getChildren2')).toMatchObject({ children: ['b', 's-0000000002'], stat: { cversion: 4, numChildren: 2 } });
  });

  it('negotiates the requested timeout within bounds and removes ephemerals on close', () => {
    expect(ok(r, 'ephemeralOwnerMatches')).toBe(true);
    expect(ok(r, 'negotiatedTimeout')).toBe(30_000);
    expect(ok(r, 'afterCloseEphemeralsGone')).toEqual({ e1: false, e2: false, otherStill: true });
  });
});

describe('Java client: sessions', () => {
  it('expires a session whose client stopped pinging, deleting its ephemerals', async () => {
    const timeoutMs = 1_000;
    const r = await run('expire', '/jexpire', String(timeoutMs));
    expect(ok(r, 'negotiated')).toBe(timeoutMs);
    expect(ok(r, 'createEphemeral')).toBe('/jexpire/eph');
    expect(ok(r, 'createEphemeralSeq')).toBe('/jexpire/eph-0000000001');
    const cut = markIndex(r, 'cut');
    expect(watchesOf(r, 'gone', cut)).toEqual([['NodeDeleted', '/jexpire/eph']]);
    // Not at disconnect: only once the timeout (counted from the last ping,
    // which is at most a third of the timeout earlier) has run out.
    const elapsed = ok(r, 'expiredAfterMs') as number;
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs / 2);
    expect(elapsed).toBeLessThan(timeoutMs + scaled(5_000));
    expect(ok(r, 'ephemeralsLeft')).toEqual([]);
    // Reconnecting with the dead session reports Expired.
    expect(r.events.some((line) => line.w === 'victim' && line.state === 'Expired'), r.transcript).toBe(true);
    err(r, 'victimAfterExpiry', SESSIONEXPIRED);
  });

  it('resumes a session by id and password, re-arms watches, and rejects wrong passwords', async () => {
    const r = await run('resume', '/jresume');
    expect(ok(r, 'ephemeral')).toBe('/jresume/eph');
    // After the reconnect, SetWatches fires what changed while away.
    const away = markIndex(r, 'changedWhileAway');
    expect(watchesOf(r, 'dataW', away).filter(([type]) => type !== 'None')).toEqual([['NodeDataChanged', '/jresume/w']]);
    expect(watchesOf(r, 'existsAbsent', away).filter(([type]) => type !== 'None')).toEqual([['NodeCreated', '/jresume/absent']]);
    expect(watchesOf(r, 'kids', away).filter(([type]) => type !== 'None')).toEqual([['NodeChildrenChanged', '/jresume/kids']]);
    expect(watchesOf(r, 'unchanged', away).filter(([type]) => type !== 'None')).toEqual([]);
    expect(ok(r, 'sameSession')).toBe(true);
    // The persistent-recursive watch is re-registered, without replaying
    // the creation it missed.
    const rearmed = markIndex(r, 'rearmed');
    const recursive = watchesOf(r, 'recursive', away, rearmed).filter(([type]) => type === 'NodeCreated');
    expect(recursive).toEqual([['NodeCreated', '/jresume/kids/after']]);

    expect(ok(r, 'resumedSameId')).toBe(true);
    expect(ok(r, 'resumedEphemeralOwner')).toBe(true);
    expect(ok(r, 'resumedEphemerals')).toEqual(['/jresume/eph']);
    expect(ok(r, 'resumedCreate')).toBe('/jresume/eph2');
    expect(r.events.some((line) => line.w === 'wrongPassword' && line.state === 'Expired'), r.transcript).toBe(true);
    expect(r.events.some((line) => line.w === 'unknownSession' && line.state === 'Expired'), r.transcript).toBe(true);
    expect(ok(r, 'stillAlive')).toBe(true);
    expect(ok(r, 'afterClose')).toEqual({ eph: false, eph2: false });
  });
});
