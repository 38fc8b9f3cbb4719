import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import {
  clientTlsConfig, quorumAuthSecret, quorumTlsConfig, sslClientKeys, sslQuorumKeys, unsupportedSslKeys,
  type ClientAuthMode, type ClientTlsConfig, type QuorumTlsConfig,
} from './security.js';
import { boolValue, intValue, pathValue, portValue } from './values.js';

export interface PeerSpec {
  sid: number;
  host: string;
  quorumPort: number;
  electionPort: number;
  role: 'participant' | 'observer';
  clientHost: string | null;
  clientPort: number | null;
}

export interface ServerConfig {
  readonly configFile: string | null;
  readonly tickTime: number;
  readonly initLimit: number;
  readonly syncLimit: number;
  readonly dataDir: string;
  readonly dataLogDir: string;
  /** The plain client port; null when only secureClientPort serves (-1: from this member's server.N line). */
  readonly clientPort: number | null;
  readonly clientPortAddress: string;
  /** secureClientPort and its ssl.* keys; null when there is no TLS client port. */
  readonly clientTls: ClientTlsConfig | null;
  readonly servers: readonly PeerSpec[];
  readonly maxClientCnxns: number;
  /** Concurrent connections on one client port, from all addresses; 0: no limit. */
  readonly maxCnxns: number;
  readonly minSessionTimeout: number;
  readonly maxSessionTimeout: number;
  /** Four-letter words allowed; '*' allows all. */
  readonly fourLetterWords: ReadonlySet<string>;
  readonly snapRetainCount: number;
  /** Hours between purges; 0 disables. */
  readonly purgeInterval: number;
  readonly snapCount: number;
  readonly adminEnabled: boolean;
  readonly adminServerPort: number;
  readonly adminServerAddress: string;
  readonly juteMaxBuffer: number;
  readonly extendedTypesEnabled: boolean;
  readonly superDigest: string | null;
  readonly globalOutstandingLimit: number;
  readonly reconfigEnabled: boolean;
  /** How long a connection may take to send its ConnectRequest. */
  readonly connectTimeoutMs: number;
  /** sslQuorum=true: peers connect over mutual TLS; null when off. */
  readonly quorumTls: QuorumTlsConfig | null;
  /** quorum.auth.secretFile: peers prove they hold this secret in the hello; null when off. */
  readonly quorumAuthSecret: Uint8Array | null;
}

/** Every default in one place (ZooKeeper's where it has one). */
export const configDefaults = Object.freeze({
  tickTime: 3000,
  initLimit: 10,
  syncLimit: 5,
  clientPortAddress: '0.0.0.0',
  maxClientCnxns: 60,
  maxCnxns: 0,
  fourLetterWords: 'srvr',
  snapRetainCount: 3,
  purgeInterval: 0,
  snapCount: 100_000,
  adminEnabled: false,
  adminServerPort: 8080,
  adminServerAddress: '0.0.0.0',
  juteMaxBuffer: 0xfffff,
  extendedTypesEnabled: false,
  globalOutstandingLimit: 1000,
  reconfigEnabled: false,
  connectTimeoutMs: 10_000,
  sslQuorum: false,
  sslQuorumHostnameVerification: true,
  // ZooKeeper's default: a secure port insists on a client certificate.
  sslClientAuth: 'need' as ClientAuthMode,
});

export const knownFourLetterWords = ['ruok', 'srvr', 'stat', 'conf', 'cons', 'envi', 'mntr', 'wchs', 'wchc', 'wchp', 'dump', 'isro', 'dirs', 'srst', 'crst', 'gtmk', 'stmk', 'hash'] as const;

/** Keys ZooKeeper knows that zkts accepts and ignores. */
const ignoredKeys = new Set([
  'electionAlg', 'standaloneEnabled', 'syncEnabled', 'preAllocSize', 'leaderServes', 'cnxTimeout',
  'quorumListenOnAllIPs', 'localSessionsEnabled', 'localSessionsUpgradingEnabled',
  'skipACL', 'forceSync', 'dynamicConfigFile', 'metricsProvider.className', 'admin.commandURL',
  'audit.enable', 'clientPortListenBacklog',
  // ZooKeeper needs these for a secure port; zkts always has its TLS listener and x509 provider.
  'serverCnxnFactory', 'authProvider.x509',
]);

export interface ParseResult {
  config: ServerConfig;
  warnings: string[];
}

/** Parses `server.N=host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]`. */
export function parseServerLine(key: string, value: string): PeerSpec {
  const sid = intValue(key, key.slice('server.'.length), 0, 254);
  const [addr, client] = value.split(';', 2);
  const parts = addr!.trim().split(':');
  if (parts.length < 3 || parts.length > 4) {
    throw new ConfigError(key, `'${value}' is not host:quorumPort:electionPort[:participant|observer][;clientPort]`);
  }
  const role = parts[3] ?? 'participant';
  if (role !== 'participant' && role !== 'observer') throw new ConfigError(key, `role '${role}' is not participant or observer`);
  let clientHost: string | null = null;
  let clientPort: number | null = null;
  if (client !== undefined && client.trim() !== '') {
    const c = client.trim();
    const colon = c.lastIndexOf(':');
    clientHost = colon >= 0 ? c.slice(0, colon) : null;
    clientPort = portValue(key, colon >= 0 ? c.slice(colon + 1) : c);
  }
  return {
    sid,
    host: parts[0]!,
    quorumPort: portValue(key, parts[1]!),
    electionPort: portValue(key, parts[2]!),
    role,
    clientHost,
    clientPort,
  };
}

/** Reads key=value lines; '#' starts a comment line. */
export function parseProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith('!')) continue;
    const eq = t.indexOf('=');
    if (eq < 0) throw new ConfigError(t, 'line has no =');
    props.set(t.slice(0, eq).trim(), t.slice(eq + 1).trim());
  }
  return props;
}

/** Builds the validated, frozen config from zoo.cfg properties. */
export function buildConfig(props: Map<string, string>, configFile: string | null): ParseResult {
  const warnings: string[] = [];
  const base = configFile ? dirname(configFile) : process.cwd();
  const get = (k: string) => props.get(k);
  const tickTime = get('tickTime') !== undefined ? intValue('tickTime', get('tickTime')!, 1) : configDefaults.tickTime;
  const dataDirRaw = get('dataDir');
  if (dataDirRaw === undefined || dataDirRaw === '') throw new ConfigError('dataDir', 'is required');
  const dataDir = pathValue(base, dataDirRaw);
  const dataLogRaw = get('dataLogDir');
  const dataLogDir = dataLogRaw ? pathValue(base, dataLogRaw) : dataDir;
  const servers: PeerSpec[] = [];
  const known = new Set<string>();
  for (const [k, v] of props) {
    if (k.startsWith('server.')) {
      servers.push(parseServerLine(k, v));
      known.add(k);
    }
  }
  servers.sort((a, b) => a.sid - b.sid);
  for (let i = 1; i < servers.length; i++) {
    if (servers[i]!.sid === servers[i - 1]!.sid) throw new ConfigError(`server.${servers[i]!.sid}`, 'appears twice');
  }
  const clientTls = clientTlsConfig(get, base, warnings);
  let clientPort: number | null;
  if (get('clientPort') !== undefined) clientPort = portValue('clientPort', get('clientPort')!);
  else if (servers.length > 0) clientPort = -1; // taken from this server's server.N line once myid is known
  else if (clientTls !== null) clientPort = null; // served on secureClientPort only
  else throw new ConfigError('clientPort', 'is required for a standalone server (or secureClientPort)');
  const minRaw = get('minSessionTimeout');
  const maxRaw = get('maxSessionTimeout');
  let minSessionTimeout = minRaw === undefined || minRaw === '-1' ? 2 * tickTime : intValue('minSessionTimeout', minRaw, 1);
  const maxSessionTimeout = maxRaw === undefined || maxRaw === '-1' ? 20 * tickTime : intValue('maxSessionTimeout', maxRaw, 1);
  if (minSessionTimeout > maxSessionTimeout) {
    throw new ConfigError('minSessionTimeout', `${minSessionTimeout} is larger than maxSessionTimeout ${maxSessionTimeout}`);
  }
  const wl = get('4lw.commands.whitelist') ?? configDefaults.fourLetterWords;
  const words = wl.trim() === '*' ? [...knownFourLetterWords] : wl.split(',').map((w) => w.trim()).filter((w) => w !== '');
  for (const w of words) {
    if (!(knownFourLetterWords as readonly string[]).includes(w)) throw new ConfigError('4lw.commands.whitelist', `unknown command '${w}'`);
  }
  const snapRetainCount = get('autopurge.snapRetainCount') !== undefined ? intValue('autopurge.snapRetainCount', get('autopurge.snapRetainCount')!, 1) : configDefaults.snapRetainCount;
  const config: ServerConfig = Object.freeze({
    configFile,
    tickTime,
    initLimit: get('initLimit') !== undefined ? intValue('initLimit', get('initLimit')!, 1) : configDefaults.initLimit,
    syncLimit: get('syncLimit') !== undefined ? intValue('syncLimit', get('syncLimit')!, 1) : configDefaults.syncLimit,
    dataDir,
    dataLogDir,
    clientPort,
    clientPortAddress: get('clientPortAddress') ?? configDefaults.clientPortAddress,
    clientTls,
    servers: Object.freeze(servers),
    maxClientCnxns: get('maxClientCnxns') !== undefined ? intValue('maxClientCnxns', get('maxClientCnxns')!, 0) : configDefaults.maxClientCnxns,
    maxCnxns: get('maxCnxns') !== undefined ? intValue('maxCnxns', get('maxCnxns')!, 0) : configDefaults.maxCnxns,
    minSessionTimeout,
    maxSessionTimeout,
    fourLetterWords: new Set(words),
    // ZooKeeper keeps at least 3 snapshots whatever is asked.
    snapRetainCount: Math.max(3, snapRetainCount),
    purgeInterval: get('autopurge.purgeInterval') !== undefined ? intValue('autopurge.purgeInterval', get('autopurge.purgeInterval')!, 0) : configDefaults.purgeInterval,
    snapCount: get('snapCount') !== undefined ? intValue('snapCount', get('snapCount')!, 2) : configDefaults.snapCount,
    adminEnabled: get('admin.enableServer') !== undefined ? boolValue('admin.enableServer', get('admin.enableServer')!) : configDefaults.adminEnabled,
    adminServerPort: get('admin.serverPort') !== undefined ? portValue('admin.serverPort', get('admin.serverPort')!) : configDefaults.adminServerPort,
    adminServerAddress: get('admin.serverAddress') ?? configDefaults.adminServerAddress,
    juteMaxBuffer: get('jute.maxbuffer') !== undefined ? intValue('jute.maxbuffer', get('jute.maxbuffer')!, 1024, 0x7fffffff) : configDefaults.juteMaxBuffer,
    extendedTypesEnabled: get('extendedTypesEnabled') !== undefined ? boolValue('extendedTypesEnabled', get('extendedTypesEnabled')!) : configDefaults.extendedTypesEnabled,
    superDigest: get('superDigest') ?? get('DigestAuthenticationProvider.superDigest') ?? null,
    globalOutstandingLimit: get('globalOutstandingLimit') !== undefined ? intValue('globalOutstandingLimit', get('globalOutstandingLimit')!, 1) : configDefaults.globalOutstandingLimit,
    reconfigEnabled: get('reconfigEnabled') !== undefined ? boolValue('reconfigEnabled', get('reconfigEnabled')!) : configDefaults.reconfigEnabled,
    connectTimeoutMs: configDefaults.connectTimeoutMs,
    quorumTls: quorumTlsConfig(get, base, warnings),
    quorumAuthSecret: quorumAuthSecret(get, base),
  });
  if (config.superDigest !== null && !/^[^:]+:.+$/.test(config.superDigest)) {
    throw new ConfigError('superDigest', `'${config.superDigest}' is not user:base64digest`);
  }
  const handled = new Set([
    'tickTime', 'initLimit', 'syncLimit', 'dataDir', 'dataLogDir', 'clientPort', 'clientPortAddress', 'maxClientCnxns',
    'minSessionTimeout', 'maxSessionTimeout', '4lw.commands.whitelist', 'autopurge.snapRetainCount', 'autopurge.purgeInterval',
    'snapCount', 'admin.enableServer', 'admin.serverPort', 'admin.serverAddress', 'jute.maxbuffer', 'extendedTypesEnabled',
    'superDigest', 'DigestAuthenticationProvider.superDigest', 'globalOutstandingLimit', 'reconfigEnabled',
    'maxCnxns',
    'sslQuorum', ...sslQuorumKeys, 'quorum.auth.secretFile', 'secureClientPort', ...sslClientKeys, ...unsupportedSslKeys.keys(),
  ]);
  for (const k of props.keys()) {
    if (!handled.has(k) && !known.has(k) && !ignoredKeys.has(k)) warnings.push(`unknown config key '${k}' is ignored`);
  }
  return { config, warnings };
}

export function loadConfigFile(path: string): ParseResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('file', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return buildConfig(parseProperties(text), resolve(path));
}

/** Reads dataDir/myid for an ensemble member. */
export function readMyId(config: ServerConfig): number {
  const file = resolve(config.dataDir, 'myid');
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError('myid', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const sid = intValue('myid', text, 0, 254);
  if (!config.servers.some((s) => s.sid === sid)) throw new ConfigError('myid', `${sid} in ${file} has no server.${sid} line`);
  return sid;
}
