/** Server-wide counters, read by srvr/stat/mntr and, later, the metrics endpoint. */
export class ServerStats {
  packetsReceived = 0;
  packetsSent = 0;
  minLatencyMs = Number.MAX_SAFE_INTEGER;
  maxLatencyMs = 0;
  totalLatencyMs = 0;
  latencyCount = 0;
  badInputClosures = 0;
  refusedConnections = 0;

  recordLatency(ms: number): void {
    this.latencyCount++;
    this.totalLatencyMs += ms;
    if (ms < this.minLatencyMs) this.minLatencyMs = ms;
    if (ms > this.maxLatencyMs) this.maxLatencyMs = ms;
  }

  get avgLatencyMs(): number {
    return this.latencyCount === 0 ? 0 : this.totalLatencyMs / this.latencyCount;
  }

  get minLatencyShown(): number {
    return this.latencyCount === 0 ? 0 : this.minLatencyMs;
  }

  reset(): void {
    this.packetsReceived = 0;
    this.packetsSent = 0;
    this.minLatencyMs = Number.MAX_SAFE_INTEGER;
    this.maxLatencyMs = 0;
    this.totalLatencyMs = 0;
    this.latencyCount = 0;
  }
}

/** One connection's counters, read by cons and stat. */
export class ConnectionStats {
  readonly established = Date.now();
  lastCxid = -1;
  lastZxid = 0n;
  packetsReceived = 0;
  packetsSent = 0;
  lastOp = 'NA';
  lastLatencyMs = 0;
  minLatencyMs = Number.MAX_SAFE_INTEGER;
  maxLatencyMs = 0;
  totalLatencyMs = 0;
  lastResponseAt = 0;

  recordReply(latencyMs: number): void {
    this.packetsSent++;
    this.lastLatencyMs = latencyMs;
    this.totalLatencyMs += latencyMs;
    if (latencyMs < this.minLatencyMs) this.minLatencyMs = latencyMs;
    if (latencyMs > this.maxLatencyMs) this.maxLatencyMs = latencyMs;
    this.lastResponseAt = Date.now();
  }
}
