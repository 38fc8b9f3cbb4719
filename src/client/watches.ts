import { AddWatchMode, ErrorCode, EventType, OpCode, WatcherType, eventTypeName } from '../protocol/constants.js';
import { PathTypeRequestCodec, type WatcherEvent } from '../protocol/records.js';
import { zkError, type ZooKeeperError } from './errors.js';
import { toClientPath, toServerPath, validatePath } from './paths.js';
import { call, checkReply, type RequestSink } from './request-queue.js';
import type { WatchPaths } from './set-watches.js';
import type { AddWatchModeName, ClientLogger, EventTypeName, WatchedEvent, WatcherTypeName, WatchListener, WatchOption } from './types.js';
import { defaultWatcher, localEvent, watchKinds, WatchRegistry, type WatchKind } from './watch-registry.js';

/**
 * The client's watches: registered once the server has replied, delivered when it notifies,
 * removed on request, and listed for re-registration after a reconnect.
 */
export class Watches {
  private readonly registry = new WatchRegistry();

  constructor(
    private readonly sink: RequestSink,
    private readonly chroot: string,
    private readonly logger: ClientLogger,
    /** The default watcher: the client's 'event' listeners. */
    private readonly emitDefault: (event: WatchedEvent) => void,
  ) {}

  /** What a `watch` option asks for: a listener, the default watcher, or no watch (null). */
  listenerOf(watch: WatchOption): WatchListener | null {
    if (typeof watch === 'function') return watch;
    return watch === true ? defaultWatcher : null;
  }

  /** A read that left a watch on the server succeeded: remember who wants its event. */
  add(kind: WatchKind, path: string, listener: WatchListener): void {
    this.registry.add(kind, path, listener);
  }

  addWatch(path: string, mode: AddWatchModeName, listener: WatchListener): Promise<void> {
    validatePath(path);
    const kind: WatchKind = mode === 'PERSISTENT' ? 'persistent' : 'persistentRecursive';
    return call(this.sink, OpCode.addWatch, (w) => PathTypeRequestCodec.write(w, { path: this.server(path), type: AddWatchMode[mode] }), (h) => {
      checkReply(h, path);
      this.registry.add(kind, path, listener);
    });
  }

  async checkWatches(path: string, type: WatcherTypeName): Promise<void> {
    validatePath(path);
    await this.watchRequest(OpCode.checkWatches, path, type, true);
  }

  async removeWatches(path: string, type: WatcherTypeName, options: { listener?: WatchListener; local?: boolean }): Promise<void> {
    validatePath(path);
    const { listener } = options;
    const kinds = kindsOf(type);
    const registry = this.registry;
    if (!kinds.some((k) => registry.has(k, path, listener))) throw zkError(ErrorCode.NOWATCHER, path);
    // Other listeners of these kinds still need the server's registration.
    const othersLeft = listener !== undefined && kinds.some((k) => registry.count(k, path) > (registry.has(k, path, listener) ? 1 : 0));
    if (options.local !== true && !othersLeft) {
      const otherKinds = watchKinds.filter((k) => !kinds.includes(k) && registry.has(k, path));
      await this.watchRequest(OpCode.removeWatches, path, type, otherKinds.length === 0);
    }
    for (const kind of kinds) {
      const event = localEvent(removedEventType(kind), path);
      for (const removed of registry.remove(kind, path, listener)) {
        if (removed !== defaultWatcher) this.deliver(removed, event);
      }
    }
  }

  /** A server notification: to the listeners it reaches, then to the default watcher. */
  notify(raw: WatcherEvent, zxid: bigint): void {
    if (raw.type === EventType.None) return;
    const event: WatchedEvent = { type: eventTypeName(raw.type) as EventTypeName, path: toClientPath(this.chroot, raw.path), zxid };
    const listeners = this.registry.materialize(event.type, event.path);
    listeners.delete(defaultWatcher);
    for (const listener of listeners) this.deliver(listener, event);
    queueMicrotask(() => this.emitDefault(event));
  }

  /** Server paths of every watch, for SetWatches on a new connection. */
  serverPaths(): WatchPaths {
    const map = (kind: WatchKind): string[] => this.registry.paths(kind).map((p) => this.server(p));
    return {
      data: map('data'),
      exist: map('exist'),
      child: map('child'),
      persistent: map('persistent'),
      persistentRecursive: map('persistentRecursive'),
    };
  }

  /** The session is over: its watches are gone on the server too. */
  clear(): void {
    this.registry.clear();
  }

  /**
   * checkWatches / removeWatches. Servers before 3.9 (ZOOKEEPER-4472) refuse the persistent
   * watcher types with MARSHALLINGERROR; for them the request is re-sent as type Any when
   * `anyIsSafe` (nothing else of ours on the path would be dropped with it).
   */
  private async watchRequest(opcode: number, path: string, type: WatcherTypeName, anyIsSafe: boolean): Promise<void> {
    const send = (t: WatcherTypeName): Promise<void> =>
      call(this.sink, opcode, (w) => PathTypeRequestCodec.write(w, { path: this.server(path), type: WatcherType[t] }), (h) => {
        checkReply(h, path);
      });
    try {
      await send(type);
    } catch (err) {
      const persistent = type === 'Persistent' || type === 'PersistentRecursive';
      if (!persistent || (err as ZooKeeperError).code !== ErrorCode.MARSHALLINGERROR) throw err;
      if (anyIsSafe) await send('Any');
      else this.logger.warn({ path, type }, 'server cannot remove one persistent watch type; dropped locally only');
    }
  }

  private deliver(listener: WatchListener, event: WatchedEvent): void {
    queueMicrotask(() => {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err, path: event.path, type: event.type }, 'watch listener threw');
      }
    });
  }

  private server(path: string): string {
    return toServerPath(this.chroot, path);
  }
}

function kindsOf(type: WatcherTypeName): readonly WatchKind[] {
  switch (type) {
    case 'Children':
      return ['child'];
    case 'Data':
      return ['data', 'exist'];
    case 'Persistent':
      return ['persistent'];
    case 'PersistentRecursive':
      return ['persistentRecursive'];
    default:
      return watchKinds;
  }
}

function removedEventType(kind: WatchKind): EventTypeName {
  if (kind === 'child') return 'ChildWatchRemoved';
  if (kind === 'persistent' || kind === 'persistentRecursive') return 'PersistentWatchRemoved';
  return 'DataWatchRemoved';
}
