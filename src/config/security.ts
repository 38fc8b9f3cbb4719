import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { configDefaults } from './config.js';
import { loadPemKeyStore, loadPemTrustStore } from './pem.js';
import { boolValue, pathValue, portValue, type Getter } from './values.js';

// The keys that authenticate: TLS on the peer port (sslQuorum) and on the client port
// (secureClientPort), and the peers' shared secret. Files are loaded and checked at start-up.

/** Mutual TLS on the peer port (sslQuorum), with the PEM material already loaded. */
export interface QuorumTlsConfig {
  readonly key: string;
  readonly cert: string;
  readonly ca: readonly string[];
  readonly hostnameVerification: boolean;
}

/** ssl.clientAuth: whether the secure client port asks for a client certificate and insists on one. */
export const clientAuthModes = ['none', 'want', 'need'] as const;
export type ClientAuthMode = (typeof clientAuthModes)[number];

/** The TLS client port (secureClientPort), with the PEM material already loaded. */
export interface ClientTlsConfig {
  readonly port: number;
  readonly address: string;
  readonly key: string;
  readonly cert: string;
  /** CA certificates a client's certificate must chain to; null: clientAuth=none without a trust store. */
  readonly ca: readonly string[] | null;
  readonly clientAuth: ClientAuthMode;
  /** X509AuthenticationProvider.superUser: a client whose certificate has this subject DN is super. */
  readonly superUser: string | null;
}

/** A shared secret shorter than this is too easy to guess. */
export const quorumAuthSecretBytesMin = 16;

export const sslQuorumKeys = [
  'ssl.quorum.keyStore.location', 'ssl.quorum.keyStore.type', 'ssl.quorum.keyStore.password',
  'ssl.quorum.trustStore.location', 'ssl.quorum.trustStore.type', 'ssl.quorum.hostnameVerification',
] as const;

export const sslClientKeys = [
  'secureClientPortAddress', 'ssl.keyStore.location', 'ssl.keyStore.type', 'ssl.keyStore.password',
  'ssl.trustStore.location', 'ssl.trustStore.type', 'ssl.clientAuth', 'X509AuthenticationProvider.superUser',
] as const;

/** ssl.* keys ZooKeeper knows that zkts does not implement, and what it does instead. */
export const unsupportedSslKeys: ReadonlyMap<string, string> = new Map([
  ['ssl.hostnameVerification', 'the server does not check client host names; certificates are checked against the trust store only'],
  ['ssl.protocol', "Node's TLS defaults apply (TLS 1.2 and 1.3)"],
  ['ssl.enabledProtocols', "Node's TLS defaults apply (TLS 1.2 and 1.3)"],
  ['ssl.ciphersuites', "Node's default cipher suites apply"],
]);

function requiredPath(get: Getter, key: string, base: string, when: string): string {
  const raw = get(key)?.trim();
  if (raw === undefined || raw === '') throw new ConfigError(key, `is required when ${when}`);
  return pathValue(base, raw);
}

function requirePemType(get: Getter, key: string): void {
  const type = get(key);
  if (type !== undefined && type.trim().toUpperCase() !== 'PEM') throw new ConfigError(key, `'${type}' is not supported: zkts reads PEM stores only`);
}

/** sslQuorum and its ssl.quorum.* keys: PEM stores only, loaded and checked now. */
export function quorumTlsConfig(get: Getter, base: string, warnings: string[]): QuorumTlsConfig | null {
  const enabled = get('sslQuorum') !== undefined ? boolValue('sslQuorum', get('sslQuorum')!) : configDefaults.sslQuorum;
  if (!enabled) {
    const stray = sslQuorumKeys.filter((k) => get(k) !== undefined);
    if (stray.length > 0) warnings.push(`${stray.join(', ')} ignored: sslQuorum is not true`);
    return null;
  }
  requirePemType(get, 'ssl.quorum.keyStore.type');
  requirePemType(get, 'ssl.quorum.trustStore.type');
  const when = 'sslQuorum=true';
  const store = loadPemKeyStore('ssl.quorum.keyStore.location', requiredPath(get, 'ssl.quorum.keyStore.location', base, when), get('ssl.quorum.keyStore.password'));
  const ca = loadPemTrustStore('ssl.quorum.trustStore.location', requiredPath(get, 'ssl.quorum.trustStore.location', base, when));
  const verification = get('ssl.quorum.hostnameVerification');
  return Object.freeze({
    key: store.key,
    cert: store.cert,
    ca: Object.freeze(ca),
    hostnameVerification: verification !== undefined ? boolValue('ssl.quorum.hostnameVerification', verification) : configDefaults.sslQuorumHostnameVerification,
  });
}

function clientAuthValue(get: Getter): ClientAuthMode {
  const raw = get('ssl.clientAuth');
  if (raw === undefined) return configDefaults.sslClientAuth;
  const mode = clientAuthModes.find((m) => m === raw.trim().toLowerCase());
  if (mode === undefined) throw new ConfigError('ssl.clientAuth', `'${raw}' is not one of ${clientAuthModes.join(', ')}`);
  return mode;
}

/** secureClientPort and the ssl.* keys of the client side: PEM stores only, loaded and checked now. */
export function clientTlsConfig(get: Getter, base: string, warnings: string[]): ClientTlsConfig | null {
  for (const [key, instead] of unsupportedSslKeys) if (get(key) !== undefined) warnings.push(`${key} is not supported and is ignored: ${instead}`);
  if (get('secureClientPort') === undefined) {
    const stray = sslClientKeys.filter((k) => get(k) !== undefined);
    if (stray.length > 0) warnings.push(`${stray.join(', ')} ignored: secureClientPort is not set`);
    return null;
  }
  const port = portValue('secureClientPort', get('secureClientPort')!);
  requirePemType(get, 'ssl.keyStore.type');
  requirePemType(get, 'ssl.trustStore.type');
  const clientAuth = clientAuthValue(get);
  const store = loadPemKeyStore('ssl.keyStore.location', requiredPath(get, 'ssl.keyStore.location', base, 'secureClientPort is set'), get('ssl.keyStore.password'));
  const trustPath = clientAuth === 'none' && (get('ssl.trustStore.location')?.trim() ?? '') === ''
    ? null
    : requiredPath(get, 'ssl.trustStore.location', base, `ssl.clientAuth=${clientAuth}: client certificates are checked against it`);
  const superUser = get('X509AuthenticationProvider.superUser')?.trim();
  if (superUser === '') throw new ConfigError('X509AuthenticationProvider.superUser', 'is empty: name the subject DN of the super user');
  return Object.freeze({
    port,
    address: get('secureClientPortAddress') ?? configDefaults.clientPortAddress,
    key: store.key,
    cert: store.cert,
    ca: trustPath === null ? null : Object.freeze(loadPemTrustStore('ssl.trustStore.location', trustPath)),
    clientAuth,
    superUser: superUser ?? null,
  });
}

/** quorum.auth.secretFile: the bytes of the file, without a trailing newline. */
export function quorumAuthSecret(get: Getter, base: string): Uint8Array | null {
  const raw = get('quorum.auth.secretFile')?.trim();
  if (raw === undefined) return null;
  if (raw === '') throw new ConfigError('quorum.auth.secretFile', 'is empty: name a file holding the shared secret');
  const path = pathValue(base, raw);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConfigError('quorum.auth.secretFile', `cannot read '${path}': ${(err as Error).message}`, { cause: err });
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  if (end < quorumAuthSecretBytesMin) {
    throw new ConfigError('quorum.auth.secretFile', `'${path}' holds a ${end}-byte secret; a shared secret needs at least ${quorumAuthSecretBytesMin} bytes`);
  }
  return new Uint8Array(bytes.subarray(0, end));
}
