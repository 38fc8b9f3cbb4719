// The shipped docker-compose.yml, run as written by the real tools: Debian's docker-compose
// (1.29) and, where installed, the `docker compose` plugin. Only the published ports move
// (ZKTS_PORT_1..3, free ports) and the project gets a name of its own, so a user's cluster on
// 2181-2183 is left alone.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fourLetterWord } from '../../src/admin/four-letter-client.js';
import { createClient } from '../../src/client/index.js';
import { scaled, waitFor } from '../../src/testing/wait.js';
import { freePort } from '../support/net.js';
import { image, repoRoot, requireDocker } from './docker.js';

const run = promisify(execFile);
const composeFile = path.join(repoRoot, 'docker-compose.yml');
/** docker-compose up, down and the image's first health checks (every 5 s) on a busy machine. */
const composeTimeoutMs = 120_000;

interface Tool {
  name: string;
  command: string[];
}

const tools: Tool[] = [
  { name: 'docker-compose (1.x)', command: ['docker-compose'] },
  { name: 'docker compose (plugin)', command: ['docker', 'compose'] },
];

const projects: { tool: Tool; project: string; env: NodeJS.ProcessEnv }[] = [];

async function compose(tool: Tool, project: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const [command, ...prefix] = tool.command;
  const { stdout } = await run(command!, [...prefix, '-p', project, '-f', composeFile, ...args], { env, timeout: composeTimeoutMs });
  return stdout;
}

/** Why `tool` cannot run here, or null when it can. */
async function missing(tool: Tool): Promise<string | null> {
  const [command, ...prefix] = tool.command;
  try {
    await run(command!, [...prefix, 'version'], { timeout: 20_000 });
    return null;
  } catch (error) {
    return `${tool.command.join(' ')} is not installed here (${(error as Error).message.split('\n')[0]})`;
  }
}

afterAll(async () => {
  for (const { tool, project, env } of projects) await compose(tool, project, env, 'down', '-v', '--remove-orphans').catch(() => undefined);
}, composeTimeoutMs);

describe('docker-compose.yml', () => {
  it.for(tools)('$name: brings up three healthy members in one ensemble; a write through one port is read through another; down removes everything', { timeout: scaled(3 * composeTimeoutMs) }, async (tool, context) => {
    await requireDocker(context);
    const absent = await missing(tool);
    // Debian ships docker-compose, which .ci/run installs; the plugin is not packaged by Debian 12.
    if (absent !== null && tool.command[0] === 'docker-compose' && process.env.CI === 'true') throw new Error(absent);
    if (absent !== null) {
      process.stderr.write(`test/containers: skipped: ${absent}\n`);
      context.skip(absent);
    }
    const ports = [await freePort(), await freePort(), await freePort()];
    const project = `zktscompose${process.pid}${tool.command.length}`;
    const env = { ...process.env, ZKTS_PORT_1: String(ports[0]), ZKTS_PORT_2: String(ports[1]), ZKTS_PORT_3: String(ports[2]) };
    projects.push({ tool, project, env });

    const config = await compose(tool, project, env, 'config');
    expect(config).toContain(`image: ${image}`);
    await compose(tool, project, env, 'up', '-d');
    const ids = (await compose(tool, project, env, 'ps', '-q')).split('\n').filter((l) => l.trim() !== '');
    expect(ids).toHaveLength(3);
    await waitFor(
      'the three members to be healthy by the image health check',
      async () => {
        const { stdout } = await run('docker', ['inspect', '--format', '{{.State.Health.Status}}', ...ids]);
        return stdout.split('\n').filter((s) => s === 'healthy').length === 3;
      },
      { timeoutMs: composeTimeoutMs, intervalMs: 500 },
    );
    const modes = await waitFor(
      'one leader and two followers',
      async () => {
        const answers = await Promise.all(ports.map((p) => fourLetterWord('127.0.0.1', p, 'srvr', 2000)));
        const found = answers.map((a) => /^Mode: (\S+)/m.exec(a)?.[1]).sort();
        return found.join(',') === 'follower,follower,leader' ? found : null;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(modes).toEqual(['follower', 'follower', 'leader']);

    const writer = createClient(`127.0.0.1:${ports[0]}`);
    const reader = createClient(`127.0.0.1:${ports[2]}`);
    try {
      await writer.connect();
      await reader.connect();
      await writer.create('/through-compose', `written via ${ports[0]}`);
      await reader.sync('/through-compose');
      expect((await reader.getData('/through-compose')).data?.toString()).toBe(`written via ${ports[0]}`);
    } finally {
      await writer.close();
      await reader.close();
    }

    // The image is also the CLI: a shell inside a member, as the README shows.
    const got = await compose(tool, project, env, 'exec', '-T', 'zoo2', 'node', '/opt/zkts/bin/zkts.js', 'shell', '127.0.0.1:2181', '--', 'get', '/through-compose');
    expect(got.trim()).toBe(`written via ${ports[0]}`);

    await compose(tool, project, env, 'down', '-v');
    const { stdout: left } = await run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]);
    expect(left.trim()).toBe('');
    const { stdout: volumes } = await run('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]);
    expect(volumes.trim()).toBe('');
  });
});
