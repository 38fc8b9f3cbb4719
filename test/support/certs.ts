// Certificates for the TLS tests (peers and clients), made with the openssl command line in a
// temp dir: a CA, key stores it signed (key and certificate in one PEM file, ZooKeeper's PEM key
// store), and a second, unrelated CA with a key store of its own for the one that must be refused.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KeyStore {
  /** key + certificate, one PEM file */
  readonly path: string;
  readonly key: string;
  readonly cert: string;
}

export interface TestCertificates {
  readonly dir: string;
  /** The trusted CA: trust store file and PEM text. */
  readonly caPath: string;
  readonly caPem: string;
  /** Signed by the CA for 127.0.0.1 and localhost. */
  readonly member: KeyStore;
  /** Signed by the CA, but for 127.0.0.9 only: fails hostname verification against 127.0.0.1. */
  readonly otherHost: KeyStore;
  /** From another CA, for 127.0.0.1. */
  readonly rogue: KeyStore;
  /** The other CA's trust store. */
  readonly rogueCaPath: string;
  /** Client certificates signed by the CA; their subject DNs as Java prints them are `aliceDn`, `bobDn`. */
  readonly alice: KeyStore;
  readonly bob: KeyStore;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=zkts test ${name}`]);
}

/** Subjects of the client certificates, in openssl's -subj form and as the x509 ACL id. */
export const aliceSubject = '/C=US/O=Example, Inc./OU=eng/CN=alice';
export const aliceDn = 'CN=alice,OU=eng,O=Example\\, Inc.,C=US';
export const bobDn = 'CN=bob,O=Example';

function makeKeyStore(dir: string, ca: string, name: string, altNames: string, subject = `/CN=zkts ${name}`): KeyStore {
  writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  const key = readFileSync(path.join(dir, `${name}.key`), 'utf8');
  const cert = readFileSync(path.join(dir, `${name}.crt`), 'utf8');
  const storePath = path.join(dir, `${name}.pem`);
  writeFileSync(storePath, `${key}${cert}`);
  return { path: storePath, key, cert };
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zkts-certs-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  return {
    dir,
    caPath: path.join(dir, 'ca.crt'),
    caPem: readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    member: makeKeyStore(dir, 'ca', 'member', 'IP:127.0.0.1,DNS:localhost'),
    otherHost: makeKeyStore(dir, 'ca', 'other-host', 'IP:127.0.0.9'),
    rogue: makeKeyStore(dir, 'rogue-ca', 'rogue', 'IP:127.0.0.1,DNS:localhost'),
    rogueCaPath: path.join(dir, 'rogue-ca.crt'),
    alice: makeKeyStore(dir, 'ca', 'alice', 'DNS:alice.example', aliceSubject),
    bob: makeKeyStore(dir, 'ca', 'bob', 'DNS:bob.example', '/O=Example/CN=bob'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
