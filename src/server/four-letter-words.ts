import { monitorEventLoopDelay } from 'node:perf_hooks';
import { hostname } from 'node:os';
import type { ServerConfig } from '../config/config.js';
import type { DataTree } from '../data/data-tree.js';
import { treeDigest } from '../data/tree-digest.js';
import type { WatchManager } from '../data/watch-manager.js';
import type { ServerConnection } from './connection.js';
import type { ServerStats } from './stats.js';

export const zkCompatVersion = '3.8.0';
export const zktsVersion = '0.1.0';
export const versionLine = `${zkCompatVersion}-zkts-${zktsVersion}, built on 2026-11-22 00:00 UTC`;

/** What the four-letter words read from the server; nothing here changes it. */
export interface ServerView {
  readonly config: ServerConfig;
  readonly tree: DataTree;
  readonly watches: WatchManager;
  readonly stats: ServerStats;
  readonly connections: ReadonlySet<ServerConnection>;
  readonly serving: boolean;
  readonly outstanding: number;
  readonly serverId: number;
  mode(): string;
  lastZxid(): bigint;
  sessionIds(): bigint[];
  sessionTimeout(id: bigint): number | undefined;
  /** Extra mntr lines for the role (leader: followers, synced followers, ...). */
  roleMetrics(): [string, string | number][];
  resetStats(): void;
}

const notServing = 'This ZooKeeper instance is not currently serving requests\n';

function hex(n: bigint): string {
  return '0x' + BigInt.asUintN(64, n).toString(16);
}

function latencyLine(v: ServerView): string {
  return `Latency min/avg/max: ${v.stats.minLatencyShown}/${v.stats.avgLatencyMs.toFixed(4)}/${v.stats.maxLatencyMs}\n`;
}

function serverSummary(v: ServerView, withClients: boolean): string {
  let out = `Zookeeper version: ${versionLine}\n`;
  if (withClients) {
    out += 'Clients:\n';
    for (const c of v.connections) out += ` /${c.remoteAddress}:${c.remotePort}[1](queued=${c.queuedRequests},recved=${c.stats.packetsReceived},sent=${c.stats.packetsSent})\n`;
    out += '\n';
  }
  out += latencyLine(v);
  out += `Received: ${v.stats.packetsReceived}\nSent: ${v.stats.packetsSent}\nConnections: ${v.connections.size}\n`;
  out += `Outstanding: ${v.outstanding}\nZxid: ${hex(v.lastZxid())}\nMode: ${v.mode()}\nNode count: ${v.tree.nodeCount}\n`;
  return out;
}

function cons(v: ServerView): string {
  let out = '';
  for (const c of v.connections) {
    const s = c.stats;
    const avg = s.packetsSent === 0 ? 0 : s.totalLatencyMs / Math.max(1, s.packetsSent);
    out += ` /${c.remoteAddress}:${c.remotePort}[1](queued=${c.queuedRequests},recved=${s.packetsReceived},sent=${s.packetsSent}`;
    if (c.sessionId !== 0n) {
      out += `,sid=${hex(c.sessionId)},lop=${s.lastOp},est=${s.established},to=${c.sessionTimeout},lcxid=0x${(s.lastCxid >>> 0).toString(16)}`;
      out += `,lzxid=${hex(s.lastZxid)},lresp=${s.lastResponseAt},llat=${s.lastLatencyMs},minlat=${s.packetsSent ? s.minLatencyMs : 0},avglat=${avg.toFixed(0)},maxlat=${s.maxLatencyMs}`;
    }
    out += ')\n';
  }
  return out + '\n';
}

function conf(v: ServerView): string {
  const c = v.config;
  let out = `clientPort=${c.clientPort ?? -1}\nsecureClientPort=${c.clientTls?.port ?? -1}\ndataDir=${c.dataDir}\ndataDirSize=0\ndataLogDir=${c.dataLogDir}\ndataLogSize=0\n`;
  out += `tickTime=${c.tickTime}\nmaxClientCnxns=${c.maxClientCnxns}\nminSessionTimeout=${c.minSessionTimeout}\nmaxSessionTimeout=${c.maxSessionTimeout}\n`;
  out += `clientPortListenBacklog=-1\nserverId=${v.serverId}\n`;
  if (c.servers.length > 0) {
    out += `initLimit=${c.initLimit}\nsyncLimit=${c.syncLimit}\nelectionAlg=3\nelectionPort=-1\nquorumPort=-1\npeerType=0\n`;
    for (const s of c.servers) out += `server.${s.sid}=${s.host}:${s.quorumPort}:${s.electionPort}:${s.role};${s.clientHost ?? '0.0.0.0'}:${s.clientPort ?? c.clientPort ?? -1}\n`;
  }
  return out;
}

function envi(): string {
  const mem = process.memoryUsage();
  const lines = [
    `zookeeper.version=${versionLine}`,
    `host.name=${hostname()}`,
    `node.version=${process.version}`,
    `os.name=${process.platform}`,
    `os.arch=${process.arch}`,
    `user.dir=${process.cwd()}`,
    `os.memory.free=${Math.round((mem.heapTotal - mem.heapUsed) / 1048576)}MB`,
    `os.memory.total=${Math.round(mem.rss / 1048576)}MB`,
  ];
  return 'Environment:\n' + lines.join('\n') + '\n';
}

/** Event loop delay since the process started, sampled every 100 ms (perf_hooks): finer sampling
 * would wake an idle member more often than everything else it does. */
const loopDelayResolutionMs = 100;
const loopDelay = monitorEventLoopDelay({ resolution: loopDelayResolutionMs });
loopDelay.enable();

/** The histogram holds whole intervals between timer runs; lateness is what exceeds the period. */
function lateness(intervalNs: number): string {
  return Math.max(0, intervalNs / 1e6 - loopDelayResolutionMs).toFixed(2);
}

function mntr(v: ServerView): string {
  const summary = v.watches.summary();
  const memory = process.memoryUsage();
  let ephemerals = 0;
  for (const set of v.tree.ephemerals.values()) ephemerals += set.size;
  const rows: [string, string | number][] = [
    ['zk_version', versionLine],
    ['zk_server_state', v.mode()],
    ['zk_avg_latency', v.stats.avgLatencyMs.toFixed(4)],
    ['zk_max_latency', v.stats.maxLatencyMs],
    ['zk_min_latency', v.stats.minLatencyShown],
    ['zk_packets_received', v.stats.packetsReceived],
    ['zk_packets_sent', v.stats.packetsSent],
    ['zk_num_alive_connections', v.connections.size],
    ['zk_outstanding_requests', v.outstanding],
    ['zk_znode_count', v.tree.nodeCount],
    ['zk_watch_count', v.watches.totalWatches],
    ['zk_ephemerals_count', ephemerals],
    ['zk_approximate_data_size', v.tree.approximateDataSize()],
    ['zk_global_sessions', v.sessionIds().length],
    ['zk_last_zxid', hex(v.lastZxid())],
    ['zk_uptime', Math.round(process.uptime() * 1000)],
    ['zk_heap_used_bytes', memory.heapUsed],
    ['zk_heap_total_bytes', memory.heapTotal],
    ['zk_array_buffers_bytes', memory.arrayBuffers],
    ['zk_rss_bytes', memory.rss],
    // How late the event loop ran a 100 ms timer, since start: a request arriving at a busy
    // moment waits about this long before it is read.
    ['zk_event_loop_delay_p50_ms', lateness(loopDelay.percentile(50))],
    ['zk_event_loop_delay_p99_ms', lateness(loopDelay.percentile(99))],
    ['zk_event_loop_delay_max_ms', lateness(loopDelay.max)],
    ...v.roleMetrics(),
  ];
  void summary;
  return rows.map(([k, val]) => `${k}\t${val}`).join('\n') + '\n';
}

function wchs(v: ServerView): string {
  const s = v.watches.summary();
  return `${s.connections} connections watching ${s.paths} paths\nTotal watches:${s.watches}\n`;
}

function wchc(v: ServerView): string {
  const bySession = new Map<bigint, string[]>();
  for (const [path, watchers] of v.watches.byPath()) {
    for (const w of watchers) {
      const sid = (w as ServerConnection).sessionId ?? 0n;
      const list = bySession.get(sid) ?? [];
      list.push(path);
      bySession.set(sid, list);
    }
  }
  let out = '';
  for (const [sid, paths] of bySession) out += `${hex(sid)}\n` + paths.map((p) => `\t${p}\n`).join('');
  return out + '\n';
}

function wchp(v: ServerView): string {
  let out = '';
  for (const [path, watchers] of v.watches.byPath()) {
    out += `${path}\n` + watchers.map((w) => `\t${hex((w as ServerConnection).sessionId ?? 0n)}\n`).join('');
  }
  return out + '\n';
}

function dump(v: ServerView): string {
  let out = 'SessionTracker dump:\n';
  const ids = v.sessionIds();
  out += `Global Sessions(${ids.length}):\n`;
  for (const id of ids) out += `${hex(id)}\t${v.sessionTimeout(id) ?? 0}ms\n`;
  out += 'ephemeral nodes dump:\n';
  out += `Sessions with Ephemerals (${v.tree.ephemerals.size}):\n`;
  for (const [id, paths] of v.tree.ephemerals) out += `${hex(id)}:\n` + [...paths].map((p) => `\t${p}\n`).join('');
  out += 'Connections dump:\n';
  for (const c of v.connections) if (c.sessionId !== 0n) out += `\t${hex(c.sessionId)}: /${c.remoteAddress}:${c.remotePort}\n`;
  return out;
}

/** The text a four-letter word answers, or null to just close (a whitelisted telnet close). */
export function runFourLetterWord(word: string, v: ServerView): string | null {
  if (!v.config.fourLetterWords.has(word)) {
    return `${word} is not executed because it is not in the whitelist.\n`;
  }
  switch (word) {
    case 'ruok':
      return 'imok';
    case 'isro':
      return v.serving ? 'rw' : 'null';
    case 'gtmk':
      return '0';
    case 'stmk':
      return '0';
    case 'srst':
      v.resetStats();
      return 'Server stats reset.\n';
    case 'crst':
      return 'Connection stats reset.\n';
    case 'envi':
      return envi();
    case 'conf':
      return conf(v);
    case 'dirs':
      return 'datadir_size: 0\nlogdir_size: 0\n';
    case 'telnet close':
      return null;
  }
  if (!v.serving) return notServing;
  switch (word) {
    case 'srvr':
      return serverSummary(v, false);
    case 'stat':
      return serverSummary(v, true);
    case 'cons':
      return cons(v);
    case 'mntr':
      return mntr(v);
    case 'wchs':
      return wchs(v);
    case 'wchc':
      return wchc(v);
    case 'wchp':
      return wchp(v);
    case 'dump':
      return dump(v);
    case 'hash':
      return `${hex(v.lastZxid())}: ${treeDigest(v.tree)}\n`;
    default:
      return `${word} is not executed because it is not in the whitelist.\n`;
  }
}
