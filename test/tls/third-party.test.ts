// Real third-party clients on the secure client port: kazoo with use_ssl=True and ZooKeeper's
// Java client with zookeeper.client.secure=true on its Netty socket, each with certificates
// openssl made for this run; the x509 ACL each grants is enforced by zkts.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerNode } from '../../src/server/node.js';
import { describeProcess, runProcess, systemPython } from '../conformance/harness.js';
import { startServer } from '../server/harness.js';
import { aliceDn, bobDn, makeTestCertificates, type TestCertificates } from '../support/certs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Debian's netty-all.jar is an empty aggregate: the client's Netty socket needs the parts.
const nettyJars = ['buffer', 'codec', 'common', 'handler', 'resolver', 'transport', 'transport-native-epoll', 'transport-native-unix-common'].map((p) => `netty-${p}.jar`);
const javaClassPath = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-nop.jar', ...nettyJars].map((jar) => path.join('/usr/share/java', jar)).join(':');

let certs: TestCertificates;
let server: ServerNode | undefined;

beforeAll(() => {
  certs = makeTestCertificates();
});
afterAll(() => certs.remove());
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function secureServer(): Promise<number> {
  server = await startServer({
    secureClientPort: 0,
    secureClientPortAddress: '127.0.0.1',
    'ssl.keyStore.location': certs.member.path,
    'ssl.trustStore.location': certs.caPath,
    'ssl.clientAuth': 'need',
  });
  return server.securePort!;
}

describe('third-party clients over TLS', () => {
  it('kazoo (use_ssl=True): a certificate from the CA connects and its x509 ACL holds; another certificate gets NoAuth; none is refused', async () => {
    const port = await secureServer();
    const result = await runProcess(systemPython, [
      path.join(here, 'python', 'kazoo_tls.py'), `127.0.0.1:${port}`, certs.caPath,
      path.join(certs.dir, 'alice.crt'), path.join(certs.dir, 'alice.key'), aliceDn,
      path.join(certs.dir, 'bob.crt'), path.join(certs.dir, 'bob.key'),
    ], { timeoutMs: 90_000 });
    const steps = new Map(result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { step: string; ok: boolean; value?: unknown; error?: string }).map((s) => [s.step, s]));
    const why = describeProcess('kazoo_tls.py', result);
    expect(steps.get('done'), why).toBeDefined();
    expect(steps.get('owner.get'), why).toMatchObject({ ok: true, value: 'secret' });
    expect(steps.get('owner.acl'), why).toMatchObject({ ok: true, value: [['x509', aliceDn]] });
    expect(steps.get('other.start'), why).toMatchObject({ ok: true });
    expect(steps.get('other.get'), why).toMatchObject({ ok: false, error: 'NoAuthError' });
    expect(steps.get('anonymous.start'), why).toMatchObject({ ok: false });
  });

  it("ZooKeeper's Java client (zookeeper.client.secure, Netty socket, PEM stores) connects, is x509-authenticated and its ACL holds", async () => {
    const port = await secureServer();
    const run = (store: string, grant: string) => runProcess('java', [
      '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', javaClassPath,
      '-Dzookeeper.client.secure=true',
      '-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty',
      `-Dzookeeper.ssl.keyStore.location=${store}`, '-Dzookeeper.ssl.keyStore.type=PEM',
      `-Dzookeeper.ssl.trustStore.location=${certs.caPath}`, '-Dzookeeper.ssl.trustStore.type=PEM',
      path.join(here, 'java', 'TlsClient.java'), `127.0.0.1:${port}`, grant,
    ], { timeoutMs: 90_000 });
    const alice = await run(certs.alice.path, aliceDn);
    const why = describeProcess('TlsClient.java as alice', alice);
    expect(alice.stdout, why).toContain('connect ok true');
    expect(alice.stdout, why).toContain('create ok /java-tls');
    expect(alice.stdout, why).toContain('get ok from java');
    expect(alice.stdout, why).toContain(`x509:${aliceDn};`);
    const bob = await run(certs.bob.path, bobDn);
    const bobWhy = describeProcess('TlsClient.java as bob', bob);
    expect(bob.stdout, bobWhy).toContain('connect ok true');
    expect(bob.stdout, bobWhy).toContain('create error NODEEXISTS');
    expect(bob.stdout, bobWhy).toContain('get error NOAUTH');
  });
});
