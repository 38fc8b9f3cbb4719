import type { HostPort } from './connect-string.js';

/**
 * Which server to try next and how long to wait first: each host in turn without a pause,
 * then, after a whole round failed, a jittered pause that doubles from min to max until a
 * session is established again.
 */
export class HostCycle {
  private index = 0;
  private failures = 0;
  private delay: number;

  constructor(
    readonly hosts: readonly HostPort[],
    private readonly delayMin: number,
    private readonly delayMax: number,
  ) {
    this.delay = delayMin;
  }

  next(): HostPort {
    const host = this.hosts[this.index % this.hosts.length]!;
    this.index = (this.index + 1) % this.hosts.length;
    return host;
  }

  /** A session was established: the next loss starts a fresh round. */
  connected(): void {
    this.failures = 0;
    this.delay = this.delayMin;
  }

  /** The last server tried is lost: ms to wait before trying the next one. */
  failed(): number {
    this.failures++;
    if (this.failures % this.hosts.length !== 0) return 0;
    const base = this.delay;
    this.delay = Math.min(this.delayMax, this.delay * 2);
    return Math.floor(base / 2 + Math.random() * (base / 2));
  }
}
