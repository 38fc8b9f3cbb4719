import { emptyImage, readImage, readLiveImage, type NodeImage } from './node-image.js';
import type { NodeStore } from './node-store.js';

/** A snapshot in progress: slots' states at its start, and how far its iteration got. */
interface SnapshotView {
  /** A slot's fields before its first change since the start (null: it was free then). */
  pre: Map<number, NodeImage | null>;
  /** Slots up to this one have been given out. */
  cursor: number;
  /** Every slot in use at the start is below this: the walk ends here, and slots from here on need no pre-image. */
  high: number;
}

/**
 * A consistent walk of a tree (DataTree.openConsistentCursor). The image given for a live
 * node is reused and leaves its name and data in the store (NodeImage.live): copy what you
 * need before returning from `visit`. Close it when abandoning
 * the walk early; a walk that reaches the end closes itself.
 */
export class ConsistentCursor {
  private slot = 0;
  private readonly scratch = emptyImage();
  done = false;

  constructor(
    private readonly store: NodeStore,
    private readonly view: SnapshotView,
    private readonly release: () => void,
  ) {}

  /** Gives nodes to `visit` until it returns false or every slot has been given. */
  run(visit: (node: NodeImage) => boolean): void {
    const { store, view, scratch } = this;
    let slot = this.slot;
    while (slot < view.high) {
      view.cursor = slot;
      let node: NodeImage | null = null;
      const before = view.pre.size > 0 ? view.pre.get(slot) : undefined;
      if (before !== undefined) {
        view.pre.delete(slot);
        node = before;
      } else if (store.inUse(slot)) {
        node = readLiveImage(store, slot, scratch);
      }
      slot++;
      if (node !== null && !visit(node)) {
        this.slot = slot;
        return;
      }
    }
    this.slot = slot;
    this.close();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.release();
  }
}

/**
 * The snapshots being written: each slot's state as of a snapshot's start, saved just before
 * its first change. This is what lets a snapshot of a large tree be written a batch at a time
 * while writes go on.
 */
export class SnapshotViews {
  private readonly views = new Set<SnapshotView>();

  constructor(private readonly store: NodeStore) {}

  get active(): boolean {
    return this.views.size > 0;
  }

  /** A walk of the store as of now; several may run at once. */
  open(): ConsistentCursor {
    const view: SnapshotView = { pre: new Map(), cursor: -1, high: this.store.high };
    this.views.add(view);
    return new ConsistentCursor(this.store, view, () => this.views.delete(view));
  }

  /** Saves a slot's snapshot-time state before its first change during a snapshot. */
  beforeChange(slot: number): void {
    if (this.views.size === 0) return;
    let copy: NodeImage | null | undefined;
    for (const view of this.views) {
      // At or below the cursor the snapshot already took the slot as it was; from view.high
      // on there was nothing to take (a create during a snapshot costs no pre-image).
      if (slot <= view.cursor || slot >= view.high || view.pre.has(slot)) continue;
      if (copy === undefined) copy = this.store.inUse(slot) ? readImage(this.store, slot, emptyImage()) : null;
      view.pre.set(slot, copy);
    }
  }
}
