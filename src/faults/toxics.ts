// The client-side toxics, as data: what a TcpProxy applies to the bytes it forwards. Named after
// Toxiproxy's, which people know. "Upstream" is client → server, "downstream" server → client.

export type Direction = 'upstream' | 'downstream' | 'both';

/** The toxics on one direction of a proxy. */
export interface StreamToxics {
  /** Added to every chunk's trip, ms. */
  latencyMs: number;
  /** Each chunk's latency varies uniformly by up to this much either way, ms. */
  jitterMs: number;
  /** Bytes per second allowed through each connection; 0: no limit. */
  bandwidthBytesPerSecond: number;
  /** Percent of chunks lost, each loss resetting its connection. */
  dropPercent: number;
  /** Nothing is forwarded; what arrives is held (up to the buffer bound) until healed. */
  blackhole: boolean;
}

/** Every toxic of a proxy. */
export interface Toxics {
  readonly upstream: Readonly<StreamToxics>;
  readonly downstream: Readonly<StreamToxics>;
  /** Every connection is reset, and so is each new one, until healed. */
  readonly reset: boolean;
}

export function noToxics(): StreamToxics {
  return { latencyMs: 0, jitterMs: 0, bandwidthBytesPerSecond: 0, dropPercent: 0, blackhole: false };
}

/** The longest latency a toxic may add, ms. */
export const latencyMsMax = 600_000;

export function streamsOf(direction: Direction): ('upstream' | 'downstream')[] {
  switch (direction) {
    case 'upstream':
      return ['upstream'];
    case 'downstream':
      return ['downstream'];
    case 'both':
      return ['upstream', 'downstream'];
    default:
      throw new TypeError(`direction must be 'upstream', 'downstream' or 'both', not ${JSON.stringify(direction)}`);
  }
}

export function checkRange(what: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !(value >= min && value <= max)) throw new RangeError(`${what} must be a number from ${min} to ${max}, not ${String(value)}`);
  return value;
}
