import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectDn, x509Ids } from '../../src/server/x509-name.js';
import { scaled } from '../support/wait.js';

// The x509 ACL id is the subject DN as Java's X500Principal.getName() prints it (ZooKeeper's
// X509AuthenticationProvider): checked against a real JVM for subjects that exercise the
// order, the escaping, multi-valued RDNs, non-ASCII text and attributes printed as hex.

const here = path.dirname(fileURLToPath(import.meta.url));
const subjects = [
  '/C=US/O=Example, Inc./OU=eng/CN=alice',
  '/C=US/O=Example/OU=eng+UID=a1/CN=multi',
  '/CN= lead#x=y;z<>"q\\\\ /emailAddress=a@b.c/DC=com/serialNumber=42/L=Zürich/ST=Vaud',
  '/CN=plain',
];

let dir: string;
let files: string[];
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'zkts-dn-'));
  files = subjects.map((subject, i) => {
    const cert = path.join(dir, `c${i}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, `k${i}.pem`),
      '-out', cert, '-days', '1', '-utf8', '-multivalue-rdn', '-subj', subject], { stdio: ['ignore', 'ignore', 'pipe'] });
    return cert;
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (file: string) => new X509Certificate(readFileSync(file));

describe('subjectDn', () => {
  it('prints most specific first, escapes as RFC 2253 (and Java) does', () => {
    expect(subjectDn(load(files[0]!))).toBe('CN=alice,OU=eng,O=Example\\, Inc.,C=US');
    expect(subjectDn(load(files[1]!))).toBe('CN=multi,OU=eng+UID=a1,O=Example,C=US');
    expect(subjectDn(load(files[3]!))).toBe('CN=plain');
  });

  it("matches Java's X500Principal.getName() for every subject", () => {
    const java = execFileSync('java', [path.join(here, 'java', 'SubjectName.java'), ...files], { encoding: 'utf8', timeout: scaled(60_000) });
    expect(files.map((f) => subjectDn(load(f)))).toEqual(java.trimEnd().split('\n'));
  });

  it('gives the x509 id, and super as well for the super user', () => {
    const cert = load(files[3]!);
    expect(x509Ids(cert, null)).toEqual([{ scheme: 'x509', id: 'CN=plain' }]);
    expect(x509Ids(cert, 'CN=plain')).toEqual([{ scheme: 'x509', id: 'CN=plain' }, { scheme: 'super', id: 'CN=plain' }]);
    expect(x509Ids(cert, 'CN=other')).toHaveLength(1);
  });
});
