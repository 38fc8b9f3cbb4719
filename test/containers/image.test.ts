// The zkts image as a user runs it: non-root, data in volumes, the launcher's node flags and
// malloc settings, healthy by its own ruok check, configured by ZOO_* variables or by a
// mounted zoo.cfg (which wins), refusing a bad variable at once with the variable named.
// Through zkts/testcontainers' ZktsContainer.
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import { serverNodeArgs, serverProcessEnv } from '../../src/testing/server-process.js';
import { waitFor } from '../../src/testing/wait.js';
import { ZktsContainer, type StartedZktsContainer } from '../../src/testing/testcontainers.js';
import { image, requireDocker } from './docker.js';

const started: StartedZktsContainer[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.allSettled(started.map((c) => c.stop({ timeout: 0, removeVolumes: true })));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function start(container: ZktsContainer): Promise<StartedZktsContainer> {
  const c = await container.start();
  started.push(c);
  return c;
}

async function docker() {
  return (await getContainerRuntimeClient()).container.dockerode;
}

describe('the zkts image', () => {
  it('runs zkts as uid 1000 with /data and /datalog as volumes, serves clients, and Docker finds it healthy by ruok', async (context) => {
    await requireDocker(context);
    const info = await (await docker()).getImage(image).inspect();
    expect(info.Config.User).toBe('1000:1000');
    expect(Object.keys(info.Config.Volumes ?? {}).sort()).toEqual(['/data', '/datalog']);
    expect(info.Config.Healthcheck?.Test).toEqual(['CMD', 'node', '/opt/zkts/bin/zkts.js', '4lw', 'ruok', '127.0.0.1:2181', '--expect', 'imok']);
    // The server runs as the launcher starts members: the same node flags and malloc settings.
    expect(info.Config.Entrypoint).toEqual(['node', ...serverNodeArgs, '/opt/zkts/bin/zkts.js']);
    expect(info.Config.Env).toEqual(expect.arrayContaining(Object.entries(serverProcessEnv).map(([key, value]) => `${key}=${value}`)));
    process.stdout.write(`zkts image ${image}: ${(info.Size / 1e6).toFixed(1)} MB\n`);

    const server = await start(new ZktsContainer(image));
    const uid = await server.exec(['node', '-e', 'process.stdout.write(`${process.getuid()}:${process.getgid()}`)']);
    expect(uid.output).toBe('1000:1000');
    const client = createClient(server.connectString);
    try {
      await client.connect();
      await client.create('/in-a-container', 'yes');
      expect((await client.getData('/in-a-container')).data?.toString()).toBe('yes');
    } finally {
      await client.close();
    }
    expect(await server.fourLetterWord('srvr')).toMatch(/^Mode: standalone$/m);
    // Docker runs the image's own health check every 5 s.
    const container = (await docker()).getContainer(server.getId());
    await waitFor('Docker to report the container healthy', async () => (await container.inspect()).State.Health?.Status === 'healthy', { timeoutMs: 30_000, intervalMs: 250 });
  });

  it('a mounted zoo.cfg wins over the ZOO_* variables', async (context) => {
    await requireDocker(context);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'zkts-image-'));
    dirs.push(dir);
    const cfg = path.join(dir, 'zoo.cfg');
    await writeFile(cfg, 'tickTime=1234\ndataDir=/data\nclientPort=2181\n4lw.commands.whitelist=ruok,conf,srvr\n');
    await chmod(cfg, 0o644);
    const server = await start(
      new ZktsContainer(image).withBindMounts([{ source: cfg, target: '/conf/zoo.cfg', mode: 'ro' }]).withSettings({ tickTime: 999, fourLetterWords: 'ruok' }),
    );
    const conf = await server.fourLetterWord('conf');
    expect(conf).toMatch(/^tickTime=1234$/m);
    expect(conf).toMatch(/^dataLogDir=\/data$/m);
  });

  it('a bad ZOO_* variable stops the container at once, its log naming the variable', async (context) => {
    await requireDocker(context);
    const error = await new ZktsContainer(image)
      .withEnvironment({ ZOO_SYNC_LIMIT: 'soon' })
      .start()
      .then(
        (c) => {
          started.push(c);
          return null;
        },
        (e: Error) => e,
      );
    expect(error?.message).toMatch(/exited with code 2 before serving/);
    expect(error?.message).toContain("config key 'ZOO_SYNC_LIMIT': 'soon' is not a whole number");
  });
});
