import { parentPath } from './paths.js';
import type { EventTypeName, WatchedEvent, WatchListener } from './types.js';

/** The kinds of watch the client keeps, per path (client paths, chroot removed). */
export type WatchKind = 'data' | 'exist' | 'child' | 'persistent' | 'persistentRecursive';
export const watchKinds: readonly WatchKind[] = ['data', 'exist', 'child', 'persistent', 'persistentRecursive'];

/**
 * A listener for the client's default watcher. Standard watches are one-shot per (path, kind),
 * so registering the default watcher twice still yields one event, as in ZooKeeper.
 */
export const defaultWatcher: WatchListener = () => undefined;

/**
 * Which listeners a notification reaches, following the Java client's ZKWatchManager:
 * one-shot watches are removed when they fire, persistent ones stay.
 */
export class WatchRegistry {
  private readonly tables: Record<WatchKind, Map<string, Set<WatchListener>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
    persistent: new Map(),
    persistentRecursive: new Map(),
  };

  add(kind: WatchKind, path: string, listener: WatchListener): void {
    const table = this.tables[kind];
    let set = table.get(path);
    if (set === undefined) {
      set = new Set();
      table.set(path, set);
    }
    set.add(listener);
  }

  has(kind: WatchKind, path: string, listener?: WatchListener): boolean {
    const set = this.tables[kind].get(path);
    if (set === undefined) return false;
    return listener === undefined ? set.size > 0 : set.has(listener);
  }

  count(kind: WatchKind, path: string): number {
    return this.tables[kind].get(path)?.size ?? 0;
  }

  /** Removes one listener (or all of the kind when none is given); returns those removed. */
  remove(kind: WatchKind, path: string, listener?: WatchListener): WatchListener[] {
    const table = this.tables[kind];
    const set = table.get(path);
    if (set === undefined) return [];
    if (listener === undefined) {
      table.delete(path);
      return [...set];
    }
    if (!set.delete(listener)) return [];
    if (set.size === 0) table.delete(path);
    return [listener];
  }

  paths(kind: WatchKind): string[] {
    return [...this.tables[kind].keys()];
  }

  clear(): void {
    for (const k of watchKinds) this.tables[k].clear();
  }

  /** The listeners a server notification reaches; one-shot watches it consumes are removed. */
  materialize(type: EventTypeName, path: string): Set<WatchListener> {
    const out = new Set<WatchListener>();
    const take = (kind: WatchKind): void => {
      const set = this.tables[kind].get(path);
      if (set === undefined) return;
      this.tables[kind].delete(path);
      for (const l of set) out.add(l);
    };
    switch (type) {
      case 'NodeCreated':
      case 'NodeDataChanged':
        take('data');
        take('exist');
        break;
      case 'NodeChildrenChanged':
        take('child');
        break;
      case 'NodeDeleted':
        take('data');
        take('exist');
        take('child');
        break;
      default:
        break;
    }
    this.addPersistent(type, path, out);
    return out;
  }

  private addPersistent(type: EventTypeName, path: string, out: Set<WatchListener>): void {
    for (const l of this.tables.persistent.get(path) ?? []) out.add(l);
    // Recursive watches never see NodeChildrenChanged (the server does not send it to them).
    if (type === 'NodeChildrenChanged') return;
    for (let p: string | null = path; p !== null; p = parentPath(p)) {
      for (const l of this.tables.persistentRecursive.get(p) ?? []) out.add(l);
    }
  }
}

export function localEvent(type: EventTypeName, path: string): WatchedEvent {
  return { type, path, zxid: -1n };
}
