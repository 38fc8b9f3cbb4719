// A distributed lock on zkts's client, ZooKeeper's classic recipe: each contender creates an
// ephemeral sequential node under the lock's path, and the one with the lowest sequence holds
// the lock; the others each watch the node just before theirs.
//
// The part that makes it safe across failover is what `isHeld` means. The node survives a
// disconnection as long as the session does, but while disconnected the holder cannot know
// whether its session is still alive: the ensemble may already have expired it and let the next
// contender in. So the holder stops acting as holder the moment its client is disconnected
// ('suspended'), takes the lock up again if it reconnects within the session ('resumed'), and
// gives it up for good when the session expires ('lost'). The client notices a silent server
// after 2/3 of the session timeout, and the ensemble expires a session only after all of it, so
// a suspended holder always stops before anyone else can start. On reconnecting it resumes only
// once its node is seen still there after a sync: the member it reconnected to may be behind the
// leader, and may let the session back in just before it applies the session's close (the next
// contender, on a member that is not behind, may hold the lock by then).
//
// A request cut off by a failover fails with CONNECTIONLOSS and is tried again once the client
// is back; the lock node's name carries a random tag, so that a create whose answer was lost
// is found rather than made twice.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ErrorCode, type StateChange, type ZooKeeperClient } from 'zkts';

/** A lock node's sequence number: its last ten digits. */
const sequenceOf = (name: string): string => name.slice(-10);

export type LockEvent = 'acquired' | 'suspended' | 'resumed' | 'lost' | 'released';

export class DistributedLock extends EventEmitter<Record<LockEvent, []>> {
  /** Names this contender's node, so that it can be found after a lost answer. */
  private readonly tag = `lock-${randomUUID()}-`;
  private node: string | null = null;
  private owns = false;
  /** Since the last disconnection, the node has been seen to be still ours. */
  private confirmed = false;
  private gone = false;

  constructor(
    private readonly zk: ZooKeeperClient,
    /** The lock's znode; it must exist. */
    readonly path: string,
  ) {
    super();
    zk.on('state', (change) => this.onState(change));
  }

  /** Whether this contender may act as the holder right now. */
  get isHeld(): boolean {
    return this.owns && this.confirmed && !this.gone && this.zk.state === 'SYNC_CONNECTED';
  }

  /** Resolves once this contender holds the lock; rejects if its session ends first. */
  async acquire(): Promise<void> {
    const mine = await this.retrying(() => this.createNode());
    for (;;) {
      const children = (await this.retrying(() => this.zk.getChildren(this.path))).filter((c) => c.startsWith('lock-'));
      children.sort((x, y) => sequenceOf(x).localeCompare(sequenceOf(y)));
      const index = children.indexOf(mine);
      if (index < 0) throw new Error(`lock node ${this.node} is gone`);
      if (index === 0) {
        this.owns = true;
        this.confirmed = true;
        this.emit('acquired');
        return;
      }
      // Wait for the node just before ours to go (not for the holder: no herd on each release).
      const previous = `${this.path}/${children[index - 1]}`;
      await new Promise<void>((resolve, reject) => {
        this.once('lost', resolve);
        this.retrying(() => this.zk.exists(previous, { watch: () => resolve() })).then((stat) => stat === null && resolve(), reject);
      });
    }
  }

  /** Our lock node's name: created once, found again if the answer to its create was lost. */
  private async createNode(): Promise<string> {
    if (this.node === null) {
      const found = (await this.zk.getChildren(this.path)).find((c) => c.startsWith(this.tag));
      this.node = found !== undefined ? `${this.path}/${found}` : (await this.zk.create(`${this.path}/${this.tag}`, null, { mode: 'EPHEMERAL_SEQUENTIAL' })).path;
    }
    return this.node.slice(this.path.length + 1);
  }

  /** Runs `op`, again after each CONNECTIONLOSS once the client is back; gives up when the session ends. */
  private async retrying<T>(op: () => Promise<T>): Promise<T> {
    for (;;) {
      if (this.gone) throw new Error('the session ended before the lock was acquired');
      try {
        return await op();
      } catch (error) {
        if ((error as { code?: number }).code !== ErrorCode.CONNECTIONLOSS) throw error;
        await new Promise<void>((resolve) => {
          const check = (): void => {
            if (!this.gone && this.zk.state !== 'SYNC_CONNECTED') return;
            this.zk.off('state', check);
            resolve();
          };
          this.zk.on('state', check);
          check();
        });
      }
    }
  }

  async release(): Promise<void> {
    const node = this.node;
    this.node = null;
    const owned = this.owns;
    this.owns = false;
    if (node !== null) await this.zk.delete(node).catch(() => undefined);
    if (owned) this.emit('released');
  }

  private onState(change: StateChange): void {
    if (this.gone) return;
    if (change.state === 'EXPIRED' || change.state === 'CLOSED') {
      this.gone = true;
      this.emit('lost');
    } else if (this.owns && change.state === 'DISCONNECTED') {
      this.confirmed = false;
      this.emit('suspended');
    } else if (this.owns && change.state === 'SYNC_CONNECTED') {
      void this.confirmAfterReconnect();
    }
  }

  /** Back within the session: ours again only if, once this member has caught up (sync), our node is still there. */
  private async confirmAfterReconnect(): Promise<void> {
    const node = this.node;
    if (node === null) return;
    let stillThere: boolean;
    try {
      await this.zk.sync(this.path);
      stillThere = (await this.zk.exists(node)) !== null;
    } catch {
      return; // Cut off again: the next reconnection checks again, or the session ends.
    }
    if (this.gone || !this.owns || this.confirmed || node !== this.node || this.zk.state !== 'SYNC_CONNECTED') return;
    if (!stillThere) {
      this.owns = false;
      this.emit('lost');
      return;
    }
    this.confirmed = true;
    this.emit('resumed');
  }
}
