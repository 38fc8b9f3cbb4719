import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * Key and certificate files in PEM, ZooKeeper's `*.keyStore.type=PEM` / `*.trustStore.type=PEM`:
 * a key store holds one private key and its certificate (chain) in one file, a trust store one
 * or more CA certificates. Loaded once at start-up; a file that cannot be read or parsed refuses
 * the start, naming the config key, the file and the cause.
 */

export interface PemKeyStore {
  /** The private key, unencrypted PKCS#8 PEM. */
  readonly key: string;
  /** The certificate and any chain after it, PEM. */
  readonly cert: string;
}

const blockPattern = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;
const keyBlockTypes = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']);

function readPem(key: string, path: string): { type: string; text: string }[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(key, `cannot read '${path}': ${(err as Error).message}`, { cause: err });
  }
  const blocks = [...text.matchAll(blockPattern)].map((m) => ({ type: m[1]!, text: m[0] }));
  if (blocks.length === 0) throw new ConfigError(key, `'${path}' holds no PEM block`);
  return blocks;
}

function parseCertificate(key: string, path: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new ConfigError(key, `'${path}' holds a certificate that does not parse: ${(err as Error).message}`, { cause: err });
  }
}

/** A key store: exactly one private key and the certificate that goes with it. */
export function loadPemKeyStore(key: string, path: string, passphrase?: string): PemKeyStore {
  const blocks = readPem(key, path);
  const keys = blocks.filter((b) => keyBlockTypes.has(b.type));
  const certs = blocks.filter((b) => b.type === 'CERTIFICATE');
  if (keys.length !== 1) throw new ConfigError(key, `'${path}' must hold exactly one private key, not ${keys.length}`);
  if (certs.length === 0) throw new ConfigError(key, `'${path}' holds a key but no certificate`);
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: keys[0]!.text, format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (err) {
    throw new ConfigError(key, `the private key in '${path}' does not load: ${(err as Error).message}`, { cause: err });
  }
  const leaf = parseCertificate(key, path, certs[0]!.text);
  for (const cert of certs.slice(1)) parseCertificate(key, path, cert.text);
  if (!leaf.checkPrivateKey(privateKey)) throw new ConfigError(key, `the first certificate in '${path}' is not for its private key`);
  return {
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    cert: certs.map((c) => c.text).join('\n'),
  };
}

/** A trust store: the CA certificates a peer's certificate must chain to. */
export function loadPemTrustStore(key: string, path: string): string[] {
  const certs = readPem(key, path).filter((b) => b.type === 'CERTIFICATE');
  if (certs.length === 0) throw new ConfigError(key, `'${path}' holds no certificate`);
  for (const cert of certs) parseCertificate(key, path, cert.text);
  return certs.map((c) => c.text);
}
