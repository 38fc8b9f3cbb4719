// What `zkts cluster` shows about a running cluster: the shape `status --json` prints, and the
// table `up` and `status` print. Pure: built from what the launcher knows, no I/O.
import type { PeerFaultRule } from '../faults/peer-faults.js';
import type { StreamToxics, Toxics } from '../faults/toxics.js';
import type { ServerInfo } from '../testing/member.js';

export interface MemberView {
  id: number;
  role: ServerInfo['role'];
  /** The process: starting, running, paused, stopped. */
  state: ServerInfo['state'];
  /** What it last answered to srvr (leader, follower, observer, looking); null: no answer (down, paused, or not serving). */
  mode: string | null;
  /** Its last zxid, hex; null while it does not serve. */
  zxid: string | null;
  /** Through its fault proxy. */
  connectString: string;
  /** Its own client port, past the proxy. */
  directConnectString: string;
  /** Its TLS client port through the same proxy; null without --tls-keystore. */
  secureConnectString: string | null;
  pid: number | null;
  ports: ServerInfo['ports'];
  /** The toxics on its proxy. */
  net: Toxics;
  /** The faults on it, in words ('isolated from peers', 'clients: latency 200 ms'); empty when none. */
  faults: string[];
  dataDir: string;
  logFile: string;
}

export interface ClusterView {
  /** The directory the cluster keeps its members' files in, and its control file. */
  dataDir: string;
  /** The `zkts cluster up` process. */
  pid: number;
  tickTime: number;
  connectString: string;
  directConnectString: string;
  /** Every member's TLS client port, through the proxies; null without --tls-keystore. */
  secureConnectString: string | null;
  leader: number | null;
  members: MemberView[];
  peerFaults: readonly PeerFaultRule[];
}

function covers(end: number | '*', id: number): boolean {
  return end === '*' || end === id;
}

/** The peer faults that concern member `id`, in words. */
export function describePeerFaults(id: number, ids: readonly number[], rules: readonly PeerFaultRule[]): string[] {
  const others = ids.filter((other) => other !== id);
  const cut = (from: number, to: number) => rules.some((r) => r.kind === 'cut' && covers(r.from, from) && covers(r.to, to));
  const both = others.filter((o) => cut(id, o) && cut(o, id));
  const outOnly = others.filter((o) => cut(id, o) && !cut(o, id));
  const inOnly = others.filter((o) => !cut(id, o) && cut(o, id));
  const words: string[] = [];
  if (others.length > 0 && both.length === others.length) words.push('isolated from peers');
  else if (both.length > 0) words.push(`cut from ${both.join(',')}`);
  if (outOnly.length > 0) words.push(`cannot reach ${outOnly.join(',')}`);
  if (inOnly.length > 0) words.push(`cannot hear ${inOnly.join(',')}`);
  for (const r of rules) {
    if (r.kind === 'drop' && covers(r.from, id)) words.push(`drops ${r.percent}% of peer messages`);
    if (r.kind === 'delay' && covers(r.to, id)) words.push(`peer messages ${r.ms} ms late`);
  }
  return words;
}

function describeStream(t: Readonly<StreamToxics>): string[] {
  const words: string[] = [];
  if (t.blackhole) words.push('blackhole');
  if (t.latencyMs > 0 || t.jitterMs > 0) words.push(`latency ${t.latencyMs} ms${t.jitterMs > 0 ? ` ±${t.jitterMs}` : ''}`);
  if (t.dropPercent > 0) words.push(`drop ${t.dropPercent}%`);
  if (t.bandwidthBytesPerSecond > 0) words.push(`bandwidth ${Math.round(t.bandwidthBytesPerSecond / 1024)} KiB/s`);
  return words;
}

/** A proxy's toxics in words; a toxic on one direction only says which. */
export function describeToxics(toxics: Toxics): string[] {
  const up = describeStream(toxics.upstream);
  const down = describeStream(toxics.downstream);
  const words = toxics.reset ? ['reset'] : [];
  for (const word of new Set([...up, ...down])) {
    if (up.includes(word) && down.includes(word)) words.push(word);
    else words.push(`${word} (${up.includes(word) ? 'client→server' : 'server→client'})`);
  }
  return words;
}

export function memberView(server: ServerInfo, net: Toxics, ids: readonly number[], rules: readonly PeerFaultRule[]): MemberView {
  const clientFaults = describeToxics(net);
  return {
    id: server.id,
    role: server.role,
    state: server.state,
    mode: server.mode,
    zxid: server.zxid === null ? null : `0x${server.zxid.toString(16)}`,
    connectString: server.connectString,
    directConnectString: server.directConnectString,
    secureConnectString: server.secureConnectString,
    pid: server.pid ?? null,
    ports: server.ports,
    net,
    faults: [...describePeerFaults(server.id, ids, rules), ...(clientFaults.length > 0 ? [`clients: ${clientFaults.join(', ')}`] : [])],
    dataDir: server.dataDir,
    logFile: server.logFile,
  };
}

/** Lays out rows as columns, each as wide as its widest cell. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

function headline(view: ClusterView): string {
  const counts = new Map<string, number>();
  for (const m of view.members) counts.set(m.state, (counts.get(m.state) ?? 0) + 1);
  const states = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  const leader = view.leader === null ? 'no leader' : `leader: server ${view.leader}`;
  return `${leader}; ${view.members.length} members: ${states}${view.peerFaults.length > 0 ? `; ${view.peerFaults.length} peer fault rule(s)` : ''}`;
}

/** The status table: a headline, then one row per member. */
export function renderTable(view: ClusterView): string {
  const header = ['id', 'role', 'process', 'mode', 'zxid', 'port', 'direct', 'pid', 'faults'];
  const rows = view.members.map((m) => [
    String(m.id),
    m.role,
    m.state,
    m.mode ?? '-',
    m.zxid ?? '-',
    String(m.ports.proxy),
    String(m.ports.client),
    m.pid === null ? '-' : String(m.pid),
    m.faults.length === 0 ? '-' : m.faults.join('; '),
  ]);
  return [headline(view), ...columns([header, ...rows]).map((line) => `  ${line}`)].join('\n');
}

/** How a client reaches the cluster: through the fault proxies (over TLS too, with it), and past them. */
export function renderConnectStrings(view: ClusterView): string {
  const secure = view.secureConnectString === null ? [] : [`TLS connection string: ${view.secureConnectString}`];
  return [`connection string: ${view.connectString}`, ...secure, `direct (past the fault proxies): ${view.directConnectString}`].join('\n');
}
