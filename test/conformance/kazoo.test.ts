// kazoo 2.8 (Debian python3-kazoo, run by /usr/bin/python3), driven by
// test/conformance/python/kazoo_driver.py.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpServerLogOnFailure, runKazoo, startServer, superPassword, type ScenarioRun, type ServerHandle } from './harness.js';
import { scaled } from '../../src/testing/wait.js';

let server: ServerHandle | undefined;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});
dumpServerLogOnFailure(() => server);

type Line = Record<string, unknown>;

async function run(scenario: string, ...args: string[]): Promise<ScenarioRun> {
  if (server === undefined) throw new Error('server not started');
  const result = await runKazoo(server, 'kazoo_driver.py', scenario, args);
  expect(result.result.code, result.transcript).toBe(0);
  expect(result.events.some((event) => event.ev === 'done'), result.transcript).toBe(true);
  return result;
}

function step(r: ScenarioRun, name: string): Line {
  const line = r.events.find((event) => event.ev === 'step' && event.step === name);
  expect(line, `step ${name} missing\n${r.transcript}`).toBeDefined();
  return line as Line;
}

function ok(r: ScenarioRun, name: string): unknown {
  const line = step(r, name);
  expect(line.ok, `step ${name}: ${JSON.stringify(line)}\n${r.transcript}`).toBe(true);
  return line.value;
}

function err(r: ScenarioRun, name: string, error: string, code?: number): void {
  const line = step(r, name);
  expect({ ok: line.ok, error: line.error, code: line.code }, `step ${name}: ${JSON.stringify(line)}`).toEqual({
    ok: false,
    error,
    code: code ?? null,
  });
}

function watches(r: ScenarioRun, watcher: string, from = 0, to = Number.POSITIVE_INFINITY): Array<[unknown, unknown]> {
  return r.events
    .slice(from, to)
    .filter((event) => event.ev === 'watch' && event.w === watcher)
    .map((event) => [event.type, event.path]);
}

function markIndex(r: ScenarioRun, mark: string): number {
  const index = r.events.findIndex((event) => event.ev === 'mark' && event.mark === mark);
  expect(index, `mark ${mark} missing\n${r.transcript}`).toBeGreaterThanOrEqual(0);
  return index;
}

// kazoo ZnodeStat as a list: czxid, mzxid, ctime, mtime, version, cversion,
// aversion, ephemeralOwner, dataLength, numChildren, pzxid.
const statIndex = { version: 4, cversion: 5, aversion: 6, ephemeralOwner: 7, dataLength: 8, numChildren: 9 } as const;

describe('kazoo: nodes', () => {
  it('creates, reads, versions and deletes nodes, with kazoo\'s exception per error code', async () => {
    const r = await run('nodes', '/knodes');
    expect(ok(r, 'create')).toBe('/knodes/p');
    err(r, 'createExists', 'NodeExistsError', -110);
    const [path, stat] = ok(r, 'createIncludeData') as [string, number[]];
    expect(path).toBe('/knodes/q');
    expect(stat[statIndex.dataLength]).toBe(2);
    expect(stat[statIndex.version]).toBe(0);
    expect(ok(r, 'ephemeral')).toBe('/knodes/e');
    expect(ok(r, 'ephemeralOwner')).toBe(true);
    err(r, 'ephemeralChild', 'NoChildrenForEphemeralsError', -108);
    expect(ok(r, 'seq1')).toBe('/knodes/p/n-0000000000');
    expect(ok(r, 'seq2')).toBe('/knodes/p/n-0000000001');
    expect(ok(r, 'makepath')).toBe('/knodes/deep/er/path');
    const [data, getStat] = ok(r, 'get') as [string, number[]];
    expect(data).toBe('pdata');
    expect(getStat[statIndex.numChildren]).toBe(2);
    expect(getStat[statIndex.cversion]).toBe(2);
    expect(ok(r, 'set')).toBe(1);
    err(r, 'setBadVersion', 'BadVersionError', -103);
    expect(ok(r, 'children')).toEqual(['n-0000000000', 'n-0000000001']);
    expect(ok(r, 'childrenWithData')).toBe(1);
    expect(ok(r, 'existsMissing')).toBeNull();
    err(r, 'getMissing', 'NoNodeError', -101);
    err(r, 'deleteNotEmpty', 'NotEmptyError', -111);
    ok(r, 'deleteRecursive');
    expect(ok(r, 'deleteGone')).toBeNull();
    err(r, 'deleteBadVersion', 'BadVersionError', -103);
    expect(ok(r, 'sync')).toBe('/knodes');
    expect(ok(r, 'ruok')).toBe('imok');
  });

  it('round-trips non-ASCII (BMP) paths and data as UTF-8', async () => {
    const r = await run('nodes', '/knodes-utf8');
    expect(ok(r, 'unicode')).toBe('/knodes-utf8/\u00e9t\u00e9-\u4e2d');
    expect(ok(r, 'unicodeChildren')).toContain('\u00e9t\u00e9-\u4e2d');
    expect(ok(r, 'unicodeGet')).toBe('d\u00e9j\u00e0');
  });
});

describe('kazoo: watches', () => {
  it('fires one-shot data, exists and child watches and keeps the recipes current', async () => {
    const r = await run('watches', '/kwatch');
    expect(ok(r, 'getWatch')).toBe('0');
    expect(ok(r, 'existsWatch')).toBeNull();
    expect(ok(r, 'childWatch')).toEqual([]);
    const phase1 = markIndex(r, 'phase1');
    const phase2 = markIndex(r, 'phase2');
    const phase3 = markIndex(r, 'phase3');
    expect(watches(r, 'data', 0, phase1)).toEqual([['CHANGED', '/kwatch/d']]);
    expect(watches(r, 'exists', 0, phase1)).toEqual([['CREATED', '/kwatch/new']]);
    expect(watches(r, 'child', 0, phase1)).toEqual([['CHILD', '/kwatch/kids']]);
    const repeated = r.events.slice(phase1 + 1, phase2).filter((event) => event.ev === 'watch' && event.w !== 'fence');
    expect(repeated, r.transcript).toEqual([]);
    expect(watches(r, 'deleted', phase2, phase3)).toEqual([['DELETED', '/kwatch/kids/a']]);
    expect(ok(r, 'dataWatchFirst')).toEqual(['2', null]);
    expect(ok(r, 'dataWatchRecipe')).toEqual(['4', 'CHANGED']);
    expect(ok(r, 'childrenWatchRecipe')).toEqual(['b', 'c']);
  });
});

describe('kazoo: ACLs', () => {
  it('enforces digest ACLs on every op, lets super through, and matches ip and world', async () => {
    const r = await run('acl', '/kacl', superPassword);
    expect(ok(r, 'addAuth')).toBe(true);
    expect(ok(r, 'digestAcl')).toEqual([[31, 'digest', 'carol:nbxLVPDOFPvrXKwvUzVo6+aXpGw=']]);
    expect(ok(r, 'ownerGet')).toBe('s');
    expect(ok(r, 'ownerChild')).toBe('/kacl/secret/child');
    for (const who of ['anon', 'stranger']) {
      for (const op of ['get', 'set', 'children', 'create', 'delete', 'setAcls', 'getAcls']) {
        err(r, `${who}.${op}`, 'NoAuthError', -102);
      }
    }
    expect(ok(r, 'superGet')).toBe('s');
    expect(ok(r, 'superSetAcls')).toBe(1);
    expect(ok(r, 'anonAfterOpen')).toBe('s');
    expect(ok(r, 'readOnlyGet')).toBe('r');
    err(r, 'readOnlySet', 'NoAuthError', -102);
    expect(ok(r, 'ipGet')).toBe('i');
    err(r, 'ipOtherGet', 'NoAuthError', -102);
    err(r, 'authWithoutId', 'InvalidACLError', -114);
    expect(ok(r, 'authAcl')).toEqual([[31, 'digest', 'carol:nbxLVPDOFPvrXKwvUzVo6+aXpGw=']]);
    err(r, 'badScheme', 'AuthFailedError', -115);
  });
});

describe('kazoo: transactions', () => {
  it('commits all ops or none, with a per-op result', async () => {
    const r = await run('transaction', '/ktx');
    const okResults = ok(r, 'txOk') as unknown[];
    expect(okResults[0]).toBe('/ktx/b');
    expect((okResults[1] as number[])[statIndex.version]).toBe(1);
    expect(okResults.slice(2)).toEqual([true, '/ktx/s-0000000002', true]);
    expect(ok(r, 'txFail')).toEqual(['RolledBackError', 'BadVersionError', 'RuntimeInconsistency']);
    expect(ok(r, 'txFailNoNode')).toEqual(['RolledBackError', 'NoNodeError']);
    expect(ok(r, 'afterFail')).toEqual(['a1', false, false]);
  });
});

describe('kazoo: recipes', () => {
  it('Lock and Counter work across two clients', async () => {
    const r = await run('recipes', '/krecipes');
    expect(ok(r, 'lock1')).toBe(true);
    err(r, 'lock2Blocked', 'LockTimeout');
    expect(ok(r, 'contenders')).toEqual(['one']);
    expect(ok(r, 'lock2AfterRelease')).toEqual([true]);
    expect(ok(r, 'counter')).toBe(15);
  });
});

describe('kazoo: sessions', () => {
  it('resumes by client_id, rejects a wrong password, and expires a silent client', async () => {
    const r = await run('session', '/ksession', '1.0');
    expect(ok(r, 'ephemeral')).toBe('/ksession/eph');
    expect(ok(r, 'resumedSameId')).toBe(true);
    expect(ok(r, 'resumedOwner')).toBe(true);
    // A wrong password is an expired session to kazoo, which starts afresh.
    expect(ok(r, 'badNewSession')).toBe(true);
    expect(ok(r, 'negotiated')).toBe(1000);
    expect(ok(r, 'victimEphemeral')).toBe('/ksession/victim');
    const elapsed = ok(r, 'expiredAfterMs') as number;
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(scaled(6_000));
    expect(r.events.some((event) => event.ev === 'state' && event.w === 'victim' && event.state === 'LOST'), r.transcript).toBe(true);
    expect(ok(r, 'resumedStillOwns')).toBe(true);
    expect(ok(r, 'closedRemovesEphemeral')).toBeNull();
  });
});
