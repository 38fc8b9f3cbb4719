import { EventType, KeeperState, WatcherType } from '../protocol/constants.js';
import type { WatcherEvent } from '../protocol/records.js';
import { parentOf } from './path.js';
import type { TreeChange } from './tree-ops.js';

/** Whoever holds watches: a client connection. */
export interface Watcher {
  notify(event: WatcherEvent): void;
}

const standardBit = 1;
const persistentBit = 2;
const recursiveBit = 4;

type Table = Map<string, Map<Watcher, number>>;

function addBits(table: Table, path: string, watcher: Watcher, bits: number): void {
  let entry = table.get(path);
  if (entry === undefined) table.set(path, (entry = new Map()));
  entry.set(watcher, (entry.get(watcher) ?? 0) | bits);
}

/** Clears bits (all of them when bits is 0xff); true if any was set. */
function clearBits(table: Table, path: string, watcher: Watcher, bits: number): boolean {
  const entry = table.get(path);
  const have = entry?.get(watcher);
  if (entry === undefined || have === undefined || (have & bits) === 0) return false;
  const left = have & ~bits;
  if (left === 0) entry.delete(watcher);
  else entry.set(watcher, left);
  if (entry.size === 0) table.delete(path);
  return true;
}

/**
 * The watches one server's connections hold: one-shot data/exists and child watches,
 * persistent and persistent-recursive watches (docs/protocol.md 7, 12.4).
 */
export class WatchManager {
  private readonly data: Table = new Map();
  private readonly child: Table = new Map();
  private recursiveCount = 0;

  addDataWatch(path: string, watcher: Watcher): void {
    addBits(this.data, path, watcher, standardBit);
  }

  addChildWatch(path: string, watcher: Watcher): void {
    addBits(this.child, path, watcher, standardBit);
  }

  addPersistentWatch(path: string, watcher: Watcher, recursive: boolean): void {
    if (recursive) {
      if ((this.data.get(path)?.get(watcher) ?? 0) & recursiveBit) return;
      addBits(this.data, path, watcher, recursiveBit);
      this.recursiveCount++;
    } else {
      addBits(this.data, path, watcher, persistentBit);
      addBits(this.child, path, watcher, persistentBit);
    }
  }

  /** Notifies the watchers a change concerns, dropping one-shot watches that fired. */
  trigger(change: TreeChange): void {
    // Most writes touch paths nobody watches: nothing to allocate for them.
    if (this.recursiveCount === 0 && !this.data.has(change.path) && !this.child.has(change.path)) return;
    const event: WatcherEvent = { type: change.type, state: KeeperState.SyncConnected, path: change.path };
    const notified = new Set<Watcher>();
    if (change.type === EventType.NodeChildrenChanged) {
      this.fire(this.child, change.path, notified, standardBit | persistentBit);
    } else {
      this.fire(this.data, change.path, notified, standardBit | persistentBit | recursiveBit);
      if (change.type === EventType.NodeDeleted) this.fire(this.child, change.path, notified, standardBit | persistentBit);
      if (this.recursiveCount > 0) this.fireRecursiveAncestors(change.path, notified);
    }
    for (const watcher of notified) watcher.notify(event);
  }

  private fire(table: Table, path: string, notified: Set<Watcher>, bits: number): void {
    const entry = table.get(path);
    if (entry === undefined) return;
    for (const [watcher, have] of [...entry]) {
      if ((have & bits) === 0) continue;
      notified.add(watcher);
      if (have & standardBit) clearBits(table, path, watcher, standardBit);
    }
  }

  private fireRecursiveAncestors(path: string, notified: Set<Watcher>): void {
    let p = path;
    while (p !== '/') {
      p = parentOf(p);
      const entry = this.data.get(p);
      if (entry === undefined) continue;
      for (const [watcher, have] of entry) if (have & recursiveBit) notified.add(watcher);
    }
  }

  /** True if the watcher holds a watch of this WatcherType on path. */
  hasWatch(path: string, type: number, watcher: Watcher): boolean {
    const d = this.data.get(path)?.get(watcher) ?? 0;
    const c = this.child.get(path)?.get(watcher) ?? 0;
    switch (type) {
      case WatcherType.Children:
        return c !== 0;
      case WatcherType.Data:
        return d !== 0;
      case WatcherType.Any:
        return d !== 0 || c !== 0;
      case WatcherType.Persistent:
        return ((d | c) & persistentBit) !== 0;
      case WatcherType.PersistentRecursive:
        return (d & recursiveBit) !== 0;
      default:
        return false;
    }
  }

  /** Removes watches of a WatcherType; false when there was none (NOWATCHER). */
  removeWatch(path: string, type: number, watcher: Watcher): boolean {
    const hadRecursive = ((this.data.get(path)?.get(watcher) ?? 0) & recursiveBit) !== 0;
    let removed = false;
    switch (type) {
      // As in ZooKeeper 3.8: Children and Data clear that table's entry whatever its mode.
      case WatcherType.Children:
        removed = clearBits(this.child, path, watcher, 0xff);
        break;
      case WatcherType.Data:
        removed = clearBits(this.data, path, watcher, 0xff);
        break;
      case WatcherType.Any: {
        const d = clearBits(this.data, path, watcher, 0xff);
        const c = clearBits(this.child, path, watcher, 0xff);
        removed = d || c;
        break;
      }
      case WatcherType.Persistent: {
        const d = clearBits(this.data, path, watcher, persistentBit);
        const c = clearBits(this.child, path, watcher, persistentBit);
        removed = d || c;
        break;
      }
      case WatcherType.PersistentRecursive:
        removed = clearBits(this.data, path, watcher, recursiveBit);
        break;
    }
    const hasRecursive = ((this.data.get(path)?.get(watcher) ?? 0) & recursiveBit) !== 0;
    if (hadRecursive && !hasRecursive) this.recursiveCount--;
    return removed;
  }

  /** Drops every watch a watcher holds (its connection closed). */
  removeWatcher(watcher: Watcher): void {
    for (const table of [this.data, this.child]) {
      for (const [path, entry] of [...table]) {
        const have = entry.get(watcher);
        if (have === undefined) continue;
        if (table === this.data && have & recursiveBit) this.recursiveCount--;
        entry.delete(watcher);
        if (entry.size === 0) table.delete(path);
      }
    }
  }

  /** Figures for wchs: connections and paths of the data-watch table, and its total. */
  summary(): { connections: number; paths: number; watches: number } {
    const watchers = new Set<Watcher>();
    let watches = 0;
    for (const entry of this.data.values()) {
      for (const w of entry.keys()) watchers.add(w);
      watches += entry.size;
    }
    for (const entry of this.child.values()) for (const w of entry.keys()) watchers.add(w);
    return { connections: watchers.size, paths: this.data.size, watches };
  }

  /** path -> watchers, over both tables, for wchp/wchc. */
  byPath(): Map<string, Watcher[]> {
    const out = new Map<string, Watcher[]>();
    for (const table of [this.data, this.child]) {
      for (const [path, entry] of table) {
        const list = out.get(path) ?? [];
        for (const w of entry.keys()) if (!list.includes(w)) list.push(w);
        out.set(path, list);
      }
    }
    return out;
  }

  get totalWatches(): number {
    let n = 0;
    for (const entry of this.data.values()) n += entry.size;
    for (const entry of this.child.values()) n += entry.size;
    return n;
  }
}
