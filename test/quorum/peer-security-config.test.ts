import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFixture } from '../support/config-fixture.js';

// sslQuorum with PEM key and trust stores, and quorum.auth.secretFile: parsed and loaded once,
// when the config is read; anything unusable refuses the start, naming the key, the value and
// the cause.

const fixture = configFixture('zkts-peer-config-', (dir) => [`dataDir=${dir}/data`, 'clientPort=2999']);
const { parse, refusal, file } = fixture;

const tlsLines = (keyStore: string, trustStore: string): string[] => [
  'sslQuorum=true', `ssl.quorum.keyStore.location=${keyStore}`, 'ssl.quorum.keyStore.type=PEM',
  `ssl.quorum.trustStore.location=${trustStore}`, 'ssl.quorum.trustStore.type=PEM',
];

describe('sslQuorum and the ssl.quorum.* keys', () => {
  it('loads a PEM key store (key and certificate in one file) and a PEM trust store; hostname verification is on by default', () => {
    const { config, warnings } = parse(tlsLines(fixture.certs.member.path, fixture.certs.caPath));
    expect(warnings).toEqual([]);
    expect(config.quorumTls).not.toBeNull();
    expect(config.quorumTls!.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(config.quorumTls!.cert).toContain(fixture.certs.member.cert.trim());
    expect(config.quorumTls!.ca).toEqual([fixture.certs.caPem.trim()]);
    expect(config.quorumTls!.hostnameVerification).toBe(true);
    expect(Object.isFrozen(config.quorumTls)).toBe(true);
    expect(parse([...tlsLines(fixture.certs.member.path, fixture.certs.caPath), 'ssl.quorum.hostnameVerification=false']).config.quorumTls!.hostnameVerification).toBe(false);
  });

  it('resolves relative store paths against the config file', () => {
    const { config } = parse(tlsLines(path.relative(fixture.dir, fixture.certs.member.path), path.relative(fixture.dir, fixture.certs.caPath)));
    expect(config.quorumTls!.ca).toHaveLength(1);
  });

  it('is off unless sslQuorum=true, and says so when ssl.quorum.* keys are set anyway', () => {
    expect(parse([]).config.quorumTls).toBeNull();
    const { config, warnings } = parse([`ssl.quorum.keyStore.location=${fixture.certs.member.path}`]);
    expect(config.quorumTls).toBeNull();
    expect(warnings).toEqual(['ssl.quorum.keyStore.location ignored: sslQuorum is not true']);
  });

  const refusals: [string, () => string[], string, RegExp][] = [
    ['sslQuorum that is not a boolean', () => ['sslQuorum=maybe'], 'sslQuorum', /'maybe' is not true or false/],
    ['a missing key store location', () => ['sslQuorum=true', `ssl.quorum.trustStore.location=${fixture.certs.caPath}`], 'ssl.quorum.keyStore.location', /is required when sslQuorum=true/],
    ['a missing trust store location', () => ['sslQuorum=true', `ssl.quorum.keyStore.location=${fixture.certs.member.path}`], 'ssl.quorum.trustStore.location', /is required when sslQuorum=true/],
    ['a key store type other than PEM', () => [...tlsLines(fixture.certs.member.path, fixture.certs.caPath), 'ssl.quorum.keyStore.type=JKS'], 'ssl.quorum.keyStore.type', /'JKS' is not supported: zkts reads PEM stores only/],
    ['a trust store type other than PEM', () => [...tlsLines(fixture.certs.member.path, fixture.certs.caPath), 'ssl.quorum.trustStore.type=PKCS12'], 'ssl.quorum.trustStore.type', /'PKCS12' is not supported/],
    ['an unreadable key store', () => tlsLines(path.join(fixture.dir, 'absent.pem'), fixture.certs.caPath), 'ssl.quorum.keyStore.location', /cannot read '.*absent\.pem': ENOENT/],
    ['an unreadable trust store', () => tlsLines(fixture.certs.member.path, path.join(fixture.dir, 'absent-ca.pem')), 'ssl.quorum.trustStore.location', /cannot read '.*absent-ca\.pem': ENOENT/],
    ['a key store without a key', () => tlsLines(file('cert-only.pem', fixture.certs.member.cert), fixture.certs.caPath), 'ssl.quorum.keyStore.location', /cert-only\.pem' must hold exactly one private key, not 0/],
    ['a key store without a certificate', () => tlsLines(file('key-only.pem', fixture.certs.member.key), fixture.certs.caPath), 'ssl.quorum.keyStore.location', /key-only\.pem' holds a key but no certificate/],
    ['a key store whose certificate is for another key', () => tlsLines(file('mismatch.pem', fixture.certs.rogue.key + fixture.certs.member.cert), fixture.certs.caPath), 'ssl.quorum.keyStore.location', /the first certificate in '.*mismatch\.pem' is not for its private key/],
    ['a trust store that is not PEM', () => tlsLines(fixture.certs.member.path, file('garbage.pem', 'not a certificate\n')), 'ssl.quorum.trustStore.location', /garbage\.pem' holds no PEM block/],
    ['a certificate that does not parse', () => tlsLines(fixture.certs.member.path, file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')), 'ssl.quorum.trustStore.location', /broken\.pem' holds a certificate that does not parse/],
    ['hostname verification that is not a boolean', () => [...tlsLines(fixture.certs.member.path, fixture.certs.caPath), 'ssl.quorum.hostnameVerification=sometimes'], 'ssl.quorum.hostnameVerification', /'sometimes' is not true or false/],
  ];
  it.each(refusals)('refuses %s, naming the key, the value and the cause', (_name, lines, key, message) => {
    const err = refusal(lines());
    expect(err.key).toBe(key);
    expect(err.message).toMatch(message);
  });
});

describe('quorum.auth.secretFile', () => {
  it('reads the secret from the file, without a trailing newline', () => {
    const p = file('secret', 'a-secret-of-thirty-two-bytes-ok!\n');
    const { config } = parse([`quorum.auth.secretFile=${p}`]);
    expect(Buffer.from(config.quorumAuthSecret!).toString()).toBe('a-secret-of-thirty-two-bytes-ok!');
    expect(parse([]).config.quorumAuthSecret).toBeNull();
  });

  it('refuses an unreadable file, naming the key, the file and the cause', () => {
    const err = refusal([`quorum.auth.secretFile=${path.join(fixture.dir, 'no-secret')}`]);
    expect(err.key).toBe('quorum.auth.secretFile');
    expect(err.message).toMatch(/cannot read '.*no-secret': ENOENT/);
  });

  it('refuses a secret shorter than 16 bytes, and an empty value', () => {
    const err = refusal([`quorum.auth.secretFile=${file('short', 'guessable\n')}`]);
    expect(err.key).toBe('quorum.auth.secretFile');
    expect(err.message).toMatch(/holds a 9-byte secret; a shared secret needs at least 16 bytes/);
    expect(refusal(['quorum.auth.secretFile=']).message).toMatch(/is empty/);
  });
});
