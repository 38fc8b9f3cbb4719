import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientPortSpecs } from '../../src/server/client-port.js';
import { configFixture } from '../support/config-fixture.js';

// secureClientPort and the client-side ssl.* keys: parsed and loaded once, when the config is
// read; anything unusable refuses the start, naming the key, the value and the cause.

const fixture = configFixture('zkts-tls-config-', (dir) => [`dataDir=${dir}/data`]);
const { parse, refusal, file } = fixture;

const secureLines = (keyStore = fixture.certs.member.path, trustStore = fixture.certs.caPath): string[] => [
  'secureClientPort=2281', `ssl.keyStore.location=${keyStore}`, 'ssl.keyStore.type=PEM',
  `ssl.trustStore.location=${trustStore}`, 'ssl.trustStore.type=PEM',
];

describe('secureClientPort and the ssl.* keys', () => {
  it('loads the stores; ssl.clientAuth is need by default, as in ZooKeeper; both ports are served', () => {
    const { config, warnings } = parse(['clientPort=2181', ...secureLines()]);
    expect(warnings).toEqual([]);
    const tls = config.clientTls!;
    expect(tls.port).toBe(2281);
    expect(tls.address).toBe('0.0.0.0');
    expect(tls.clientAuth).toBe('need');
    expect(tls.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(tls.cert).toContain(fixture.certs.member.cert.trim());
    expect(tls.ca).toEqual([fixture.certs.caPem.trim()]);
    expect(tls.superUser).toBeNull();
    expect(Object.isFrozen(tls)).toBe(true);
    expect(clientPortSpecs(config).map((s) => `${s.key}:${s.port}:${s.tls === null ? 'tcp' : 'tls'}`)).toEqual(['clientPort:2181:tcp', 'secureClientPort:2281:tls']);
  });

  it('serves secureClientPort instead of clientPort when clientPort is absent', () => {
    const { config } = parse(secureLines());
    expect(config.clientPort).toBeNull();
    expect(clientPortSpecs(config).map((s) => s.key)).toEqual(['secureClientPort']);
  });

  it('reads ssl.clientAuth in any case, secureClientPortAddress and the x509 super user', () => {
    const { config } = parse([...secureLines(), 'ssl.clientAuth=WANT', 'secureClientPortAddress=127.0.0.1', 'X509AuthenticationProvider.superUser=CN=admin,O=Example']);
    expect(config.clientTls).toMatchObject({ clientAuth: 'want', address: '127.0.0.1', superUser: 'CN=admin,O=Example' });
  });

  it('needs no trust store under ssl.clientAuth=none', () => {
    const { config } = parse(['secureClientPort=2281', `ssl.keyStore.location=${fixture.certs.member.path}`, 'ssl.clientAuth=none']);
    expect(config.clientTls!.ca).toBeNull();
    expect(parse(['secureClientPort=2281', `ssl.keyStore.location=${fixture.certs.member.path}`, 'ssl.clientAuth=none', 'ssl.trustStore.location=']).config.clientTls!.ca).toBeNull();
  });

  it('loads an encrypted key with ssl.keyStore.password', () => {
    execFileSync('openssl', ['pkcs8', '-topk8', '-in', path.join(fixture.certs.dir, 'member.key'), '-v2', 'aes-256-cbc', '-passout', 'pass:s3cret', '-out', path.join(fixture.dir, 'enc.key')]);
    const store = file('encrypted.pem', readFileSync(path.join(fixture.dir, 'enc.key'), 'utf8') + fixture.certs.member.cert);
    const { config } = parse([...secureLines(store), 'ssl.keyStore.password=s3cret']);
    expect(config.clientTls!.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const wrong = refusal([...secureLines(store), 'ssl.keyStore.password=wrong']);
    expect(wrong.key).toBe('ssl.keyStore.location');
    expect(wrong.message).toMatch(/the private key in '.*encrypted\.pem' does not load/);
  });

  it('is off without secureClientPort, and says so when ssl.* keys are set anyway; unsupported ssl.* keys are named', () => {
    const { config, warnings } = parse(['clientPort=2181', `ssl.keyStore.location=${fixture.certs.member.path}`, 'ssl.protocol=TLSv1.2', 'serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory']);
    expect(config.clientTls).toBeNull();
    expect(warnings).toEqual([
      "ssl.protocol is not supported and is ignored: Node's TLS defaults apply (TLS 1.2 and 1.3)",
      'ssl.keyStore.location ignored: secureClientPort is not set',
    ]);
  });

  const refusals: [string, () => string[], string, RegExp][] = [
    ['neither clientPort nor secureClientPort', () => [], 'clientPort', /is required for a standalone server \(or secureClientPort\)/],
    ['a secureClientPort that is not a port', () => ['secureClientPort=70000', `ssl.keyStore.location=${fixture.certs.member.path}`], 'secureClientPort', /70000 is outside 0\.\.65535/],
    ['a secure port without a key store', () => ['secureClientPort=2281', `ssl.trustStore.location=${fixture.certs.caPath}`], 'ssl.keyStore.location', /is required when secureClientPort is set/],
    ['ssl.clientAuth=need without a trust store', () => ['secureClientPort=2281', `ssl.keyStore.location=${fixture.certs.member.path}`], 'ssl.trustStore.location', /is required when ssl.clientAuth=need/],
    ['an unknown ssl.clientAuth', () => [...secureLines(), 'ssl.clientAuth=maybe'], 'ssl.clientAuth', /'maybe' is not one of none, want, need/],
    ['a key store type other than PEM', () => [...secureLines(), 'ssl.keyStore.type=JKS'], 'ssl.keyStore.type', /'JKS' is not supported: zkts reads PEM stores only/],
    ['a trust store type other than PEM', () => [...secureLines(), 'ssl.trustStore.type=PKCS12'], 'ssl.trustStore.type', /'PKCS12' is not supported/],
    ['an unreadable key store', () => secureLines(path.join(fixture.dir, 'absent.pem')), 'ssl.keyStore.location', /cannot read '.*absent\.pem': ENOENT/],
    ['an unreadable trust store', () => secureLines(fixture.certs.member.path, path.join(fixture.dir, 'absent-ca.pem')), 'ssl.trustStore.location', /cannot read '.*absent-ca\.pem': ENOENT/],
    ['a key store whose certificate is for another key', () => secureLines(file('mismatch.pem', fixture.certs.rogue.key + fixture.certs.member.cert)), 'ssl.keyStore.location', /the first certificate in '.*mismatch\.pem' is not for its private key/],
    ['an empty x509 super user', () => [...secureLines(), 'X509AuthenticationProvider.superUser='], 'X509AuthenticationProvider.superUser', /is empty/],
  ];
  it.each(refusals)('refuses %s, naming the key, the value and the cause', (_name, lines, key, message) => {
    const err = refusal(lines());
    expect(err.key).toBe(key);
    expect(err.message).toMatch(message);
  });
});
