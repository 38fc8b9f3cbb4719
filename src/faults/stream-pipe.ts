import type { Socket } from 'node:net';
import type { Prng } from '../quorum/sim/prng.js';
import type { StreamToxics } from './toxics.js';

/** How a side of a connection ended, carried in order behind its data. */
export type StreamEnd = 'end' | 'reset';

type Entry = { due: number; chunk: Buffer } | { due: number; end: StreamEnd };

/** The smallest slice a bandwidth limit lets through at once, bytes. */
const bandwidthSliceBytesMin = 512;
/** A bandwidth limit lets through bursts of this many seconds' worth. */
const bandwidthBurstSeconds = 0.05;

export interface StreamPipeOptions {
  /** The socket read from (paused while too much is held). */
  source: () => Socket;
  /** The socket to write to; the upstream one is connected on first use. */
  sink: () => Socket;
  toxics: () => Readonly<StreamToxics>;
  prng: Prng;
  /** Bytes held before the source is paused (TCP backpressure then reaches its sender). */
  bufferBytesMax: number;
  /** A drop toxic lost a chunk: the connection must be reset. */
  onDrop: () => void;
  /** The end has been passed on to the sink. */
  onEnded: () => void;
}

/**
 * One direction of one proxied connection: chunks from the source wait here for their
 * latency, the bandwidth limit and the end of a blackhole, and leave in the order they came
 * (a TCP stream is never reordered), followed by how the source ended.
 */
export class StreamPipe {
  private readonly queue: Entry[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | null = null;
  private waitingForDrain = false;
  private sourcePaused = false;
  private tokens = 0;
  private tokensAt = 0;
  private endQueued = false;
  ended = false;

  constructor(private readonly options: StreamPipeOptions) {}

  /** Bytes waiting here. */
  get heldBytes(): number {
    return this.queuedBytes;
  }

  push(chunk: Buffer): void {
    if (this.endQueued) return;
    const toxics = this.options.toxics();
    if (toxics.dropPercent > 0 && this.options.prng.float() * 100 < toxics.dropPercent) {
      this.options.onDrop();
      return;
    }
    this.queue.push({ due: this.dueTime(toxics), chunk });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > this.options.bufferBytesMax && !this.sourcePaused) {
      this.sourcePaused = true;
      this.options.source().pause();
    }
    this.pump();
  }

  pushEnd(end: StreamEnd): void {
    if (this.endQueued) return;
    this.endQueued = true;
    this.queue.push({ due: this.dueTime(this.options.toxics()), end });
    this.pump();
  }

  /** Toxics were removed: what waits on latency goes now. */
  expedite(): void {
    const now = performance.now();
    for (const entry of this.queue) entry.due = Math.min(entry.due, now);
    this.lastDue = Math.min(this.lastDue, now);
    this.tokens = 0;
    this.tokensAt = now;
    this.pump();
  }

  /** Drops what is held and stops (the connection is being reset). */
  discard(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.ended = true;
  }

  private dueTime(toxics: Readonly<StreamToxics>): number {
    const jitter = toxics.jitterMs > 0 ? (this.options.prng.float() * 2 - 1) * toxics.jitterMs : 0;
    const due = Math.max(this.lastDue, performance.now() + Math.max(0, toxics.latencyMs + jitter));
    this.lastDue = due;
    return due;
  }

  /** Passes on whatever may go now; sets a timer for what must wait. */
  pump(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0 && !this.ended) {
      const toxics = this.options.toxics();
      if (toxics.blackhole || this.waitingForDrain) return;
      const head = this.queue[0]!;
      const now = performance.now();
      if (head.due > now) return this.wake(head.due - now);
      if ('end' in head) {
        this.queue.shift();
        this.finish(head.end);
        return;
      }
      const slice = this.takeSlice(head, toxics, now);
      if (slice === null) return;
      this.write(slice);
    }
    this.resumeSourceIfRoom();
  }

  /** The next piece of the head chunk that the bandwidth limit lets through, or null (a timer is set). */
  private takeSlice(head: { chunk: Buffer }, toxics: Readonly<StreamToxics>, now: number): Buffer | null {
    const rate = toxics.bandwidthBytesPerSecond;
    let size = head.chunk.length;
    if (rate > 0) {
      const burst = Math.max(bandwidthSliceBytesMin, Math.floor(rate * bandwidthBurstSeconds));
      this.tokens = Math.min(burst, this.tokens + ((now - this.tokensAt) / 1000) * rate);
      this.tokensAt = now;
      size = Math.min(size, burst);
      if (this.tokens < size) {
        this.wake(((size - this.tokens) / rate) * 1000);
        return null;
      }
      this.tokens -= size;
    }
    const slice = head.chunk.subarray(0, size);
    if (size === head.chunk.length) this.queue.shift();
    else head.chunk = head.chunk.subarray(size);
    this.queuedBytes -= size;
    return slice;
  }

  private write(slice: Buffer): void {
    const sink = this.options.sink();
    if (sink.destroyed || sink.writableEnded) return;
    if (!sink.write(slice)) {
      this.waitingForDrain = true;
      sink.once('drain', () => {
        this.waitingForDrain = false;
        this.pump();
      });
    }
  }

  private finish(end: StreamEnd): void {
    this.ended = true;
    const sink = this.options.sink();
    // A sink already gone (reset by its own peer) has nothing left to be told.
    if (!sink.destroyed) {
      if (end === 'reset') sink.resetAndDestroy();
      else sink.end();
    }
    this.options.onEnded();
  }

  private wake(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
    this.resumeSourceIfRoom();
  }

  private resumeSourceIfRoom(): void {
    if (this.sourcePaused && this.queuedBytes <= this.options.bufferBytesMax / 2) {
      this.sourcePaused = false;
      this.options.source().resume();
    }
  }
}
