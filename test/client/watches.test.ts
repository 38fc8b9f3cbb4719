import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WatchedEvent, ZooKeeperClient } from '../../src/client/index.js';
import { ClientPool, EventLog, expectCode } from './helpers.js';
import { startServer, targets, waitFor, type TestServer } from './servers.js';

describe.each(targets())('watches against %s', (target) => {
  let server: TestServer;
  const pool = new ClientPool();
  let zk: ZooKeeperClient;
  let writer: ZooKeeperClient;
  let n = 0;

  beforeAll(async () => {
    server = await startServer(target);
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await pool.closeAll();
  });

  async function fresh(): Promise<string> {
    n++;
    zk = await pool.connected(server.connectString);
    writer = await pool.connected(server.connectString);
    await writer.create(`/w${n}`);
    return `/w${n}`;
  }

  it('getData watch fires NodeDataChanged once', async () => {
    const b = await fresh();
    await writer.create(`${b}/a`, '1');
    const log = new EventLog();
    await zk.getData(`${b}/a`, { watch: log.listener });
    await zk.getData(`${b}/a`, { watch: log.listener }); // same (path, kind, listener): one event
    await writer.setData(`${b}/a`, '2');
    await log.waitForCount(1);
    await writer.setData(`${b}/a`, '3');
    // A later write on the same connection acts as a barrier for notifications.
    await zk.sync(b);
    await zk.exists('/');
    expect(log.summary()).toEqual([`NodeDataChanged ${b}/a`]);
    expect(log.events[0]!.zxid).toBeTypeOf('bigint');
  });

  it('exists watch on a missing node fires NodeCreated, and on a present node NodeDeleted', async () => {
    const b = await fresh();
    const created = new EventLog();
    expect(await zk.exists(`${b}/later`, { watch: created.listener })).toBeNull();
    await writer.create(`${b}/later`);
    await created.waitForCount(1);
    expect(created.summary()).toEqual([`NodeCreated ${b}/later`]);
    const deleted = new EventLog();
    expect(await zk.exists(`${b}/later`, { watch: deleted.listener })).not.toBeNull();
    await writer.delete(`${b}/later`);
    await deleted.waitForCount(1);
    expect(deleted.summary()).toEqual([`NodeDeleted ${b}/later`]);
  });

  it('child watches fire NodeChildrenChanged on create and delete of a child, NodeDeleted on the node', async () => {
    const b = await fresh();
    const log = new EventLog();
    await zk.getChildren(b, { watch: log.listener });
    await writer.create(`${b}/c1`);
    await log.waitForCount(1);
    await zk.getChildrenWithStat(b, { watch: log.listener });
    await writer.delete(`${b}/c1`);
    await log.waitForCount(2);
    await zk.getChildren(b, { watch: log.listener });
    await writer.delete(b);
    await log.waitForCount(3);
    expect(log.summary()).toEqual([`NodeChildrenChanged ${b}`, `NodeChildrenChanged ${b}`, `NodeDeleted ${b}`]);
  });

  it('distinct listeners on one path each fire, and the default watcher sees every event', async () => {
    const b = await fresh();
    await writer.create(`${b}/x`, '');
    const first = new EventLog();
    const second = new EventLog();
    const all: WatchedEvent[] = [];
    zk.on('event', (e) => all.push(e));
    await zk.getData(`${b}/x`, { watch: first.listener });
    await zk.exists(`${b}/x`, { watch: second.listener });
    await zk.getChildren(`${b}/x`, { watch: true });
    await writer.create(`${b}/x/kid`);
    await writer.setData(`${b}/x`, 'v');
    await first.waitForCount(1);
    await second.waitForCount(1);
    await waitFor('default watcher events', () => all.length >= 2);
    expect(first.summary()).toEqual([`NodeDataChanged ${b}/x`]);
    expect(second.summary()).toEqual([`NodeDataChanged ${b}/x`]);
    expect(all.map((e) => `${e.type} ${e.path}`)).toEqual([`NodeChildrenChanged ${b}/x`, `NodeDataChanged ${b}/x`]);
  });

  it('a write on the watching connection delivers the event before the write resolves', async () => {
    const b = await fresh();
    const log = new EventLog();
    await zk.create(`${b}/self`, 'a');
    await zk.getData(`${b}/self`, { watch: log.listener });
    await zk.setData(`${b}/self`, 'b');
    await new Promise((r) => setImmediate(r));
    expect(log.summary()).toEqual([`NodeDataChanged ${b}/self`]);
  });

  it('persistent watches fire repeatedly until removed', async () => {
    const b = await fresh();
    await writer.create(`${b}/p`);
    const log = new EventLog();
    await zk.addWatch(`${b}/p`, 'PERSISTENT', log.listener);
    await zk.checkWatches(`${b}/p`, 'Persistent');
    await writer.setData(`${b}/p`, '1');
    await writer.create(`${b}/p/child`);
    await writer.create(`${b}/p/child/grandchild`); // not seen: not recursive
    await writer.setData(`${b}/p`, '2');
    await log.waitForCount(3);
    await zk.removeWatches(`${b}/p`, 'Persistent');
    await log.waitForCount(4);
    await writer.setData(`${b}/p`, '3');
    await zk.sync(b);
    await zk.exists('/');
    expect(log.summary()).toEqual([
      `NodeDataChanged ${b}/p`,
      `NodeChildrenChanged ${b}/p`,
      `NodeDataChanged ${b}/p`,
      `PersistentWatchRemoved ${b}/p`,
    ]);
    await expectCode(zk.checkWatches(`${b}/p`, 'Persistent'), 'NOWATCHER');
  });

  it('persistent recursive watches see the whole subtree but no NodeChildrenChanged', async () => {
    const b = await fresh();
    const log = new EventLog();
    await zk.addWatch(b, 'PERSISTENT_RECURSIVE', log.listener);
    await writer.create(`${b}/a`);
    await writer.create(`${b}/a/b`, 'x');
    await writer.setData(`${b}/a/b`, 'y');
    await writer.delete(`${b}/a/b`);
    await log.waitForCount(4);
    expect(log.summary()).toEqual([`NodeCreated ${b}/a`, `NodeCreated ${b}/a/b`, `NodeDataChanged ${b}/a/b`, `NodeDeleted ${b}/a/b`]);
    await zk.removeWatches(b, 'PersistentRecursive', { listener: log.listener });
    await writer.create(`${b}/after`);
    await zk.sync(b);
    await zk.exists('/');
    expect(log.summary().at(-1)).toBe(`PersistentWatchRemoved ${b}`);
    expect(log.events.length).toBe(5);
  });

  it('removeWatches drops one-shot watches locally and on the server', async () => {
    const b = await fresh();
    await writer.create(`${b}/r`);
    const data = new EventLog();
    const child = new EventLog();
    await zk.getData(`${b}/r`, { watch: data.listener });
    await zk.getChildren(`${b}/r`, { watch: child.listener });
    await zk.checkWatches(`${b}/r`, 'Data');
    await zk.checkWatches(`${b}/r`, 'Children');
    await zk.removeWatches(`${b}/r`, 'Data');
    await expectCode(zk.checkWatches(`${b}/r`, 'Data'), 'NOWATCHER');
    await expectCode(zk.removeWatches(`${b}/r`, 'Data'), 'NOWATCHER');
    await zk.removeWatches(`${b}/r`, 'Any', { local: true });
    await writer.setData(`${b}/r`, 'changed');
    await writer.create(`${b}/r/k`);
    await zk.sync(b);
    await zk.exists('/');
    expect(data.summary()).toEqual([`DataWatchRemoved ${b}/r`]);
    expect(child.summary()).toEqual([`ChildWatchRemoved ${b}/r`]);
  });

  it('closing the session clears watches and a later change fires nothing', async () => {
    const b = await fresh();
    const log = new EventLog();
    await zk.exists(`${b}/gone`, { watch: log.listener });
    await zk.close();
    await writer.create(`${b}/gone`);
    await writer.sync(b);
    expect(log.events).toEqual([]);
  });
});
