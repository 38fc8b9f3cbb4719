// The README's Security section, run as written: its openssl commands make a CA and a key
// store per member, and three real `zkts server` members with sslQuorum=true on those files
// elect a leader and replicate a write.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serverMode } from '../../src/admin/four-letter-client.js';
import { createClient } from '../../src/client/index.js';
import { MemberProcess, packageRoot } from '../../src/testing/member-process.js';
import { describeProcess, runProcess } from '../conformance/harness.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

/** The first sh block of the README's "## Security" section, before its subsections. */
function certificateCommands(): string {
  const readme = readFileSync(path.join(packageRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Security\n'));
  const intro = section.slice(0, section.indexOf('\n### '));
  const block = /```sh\n([\s\S]*?)```/.exec(intro);
  if (block === null) throw new Error("the README's Security section has no sh block");
  return block[1]!;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'zkts-readme-quorum-tls-'));
const members: MemberProcess[] = [];

afterAll(async () => {
  await Promise.all(members.map((m) => m.kill()));
  rmSync(dir, { recursive: true, force: true });
});

describe("the README's certificates for an sslQuorum ensemble", () => {
  it('make three members that elect a leader over mutual TLS and replicate a write', async () => {
    const made = await runProcess('bash', ['-eo', 'pipefail', '-c', certificateCommands()], { cwd: dir, timeoutMs: 60_000 });
    expect(made.code, describeProcess('the openssl commands', made)).toBe(0);
    const ports = await Promise.all(Array.from({ length: 9 }, () => freePort()));
    const servers = [1, 2, 3].map((id) => `server.${id}=127.0.0.1:${ports[id * 3 - 3]}:${ports[id * 3 - 2]}`);
    for (const id of [1, 2, 3]) {
      const data = path.join(dir, `data${id}`);
      mkdirSync(data);
      writeFileSync(path.join(data, 'myid'), `${id}\n`);
      writeFileSync(path.join(dir, `zoo${id}.cfg`), [
        'tickTime=200', 'initLimit=10', 'syncLimit=5', `dataDir=data${id}`, `clientPort=${ports[id * 3 - 1]}`,
        'clientPortAddress=127.0.0.1', '4lw.commands.whitelist=srvr', ...servers, 'sslQuorum=true',
        `ssl.quorum.keyStore.location=server${id}.pem`, 'ssl.quorum.trustStore.location=ca.pem',
      ].join('\n') + '\n');
      members.push(new MemberProcess({ name: `member ${id}`, configPath: path.join(dir, `zoo${id}.cfg`), logFile: null, logLevel: 'warn', seed: id }));
    }
    await Promise.all(members.map((m) => m.start()));
    const clientPorts = [1, 2, 3].map((id) => ports[id * 3 - 1]!);
    const modes = await waitFor('a leader and two followers', async () => {
      const seen = await Promise.all(clientPorts.map((p) => serverMode('127.0.0.1', p)));
      return seen.filter((m) => m === 'leader').length === 1 && seen.filter((m) => m === 'follower').length === 2 ? seen : null;
    }, { timeoutMs: 20_000 });
    expect(modes.sort()).toEqual(['follower', 'follower', 'leader']);
    const writer = createClient(`127.0.0.1:${clientPorts[0]}`);
    const reader = createClient(`127.0.0.1:${clientPorts[2]}`);
    try {
      await writer.connect();
      await reader.connect();
      await writer.create('/over-quorum-tls', 'replicated');
      await reader.sync('/over-quorum-tls');
      expect((await reader.getData('/over-quorum-tls')).data?.toString()).toBe('replicated');
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });
});
