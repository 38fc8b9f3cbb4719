import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getContainerRuntimeClient } from 'testcontainers';
import { withDeadline } from '../../src/testing/wait.js';
import { zktsImageDefault } from '../../src/testing/testcontainers.js';

// What every container suite checks first: a Docker daemon that answers and the zkts image
// built from the code in dist/. Without them a suite is skipped with the reason, visibly; with
// CI=true it fails instead, since .ci/run provides both.

// Ryuk, testcontainers' reaper, is an image that cannot be pulled here; the suites remove
// what they start (.ci/run sets this too).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const image = process.env.ZKTS_IMAGE ?? zktsImageDefault;

export type DockerStatus = { ok: true } | { ok: false; reason: string };

/** The digest scripts/docker-image.sh labels the image with: sha256sum over dist/src's .js files. */
async function sourceDigest(): Promise<string> {
  const root = path.join(repoRoot, 'dist/src');
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.js')).map((f) => `./${f}`);
  files.sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  let listing = '';
  for (const file of files) listing += `${createHash('sha256').update(await readFile(path.join(root, file))).digest('hex')}  ${file}\n`;
  return createHash('sha256').update(listing).digest('hex').slice(0, 16);
}

async function probe(): Promise<DockerStatus> {
  let docker;
  try {
    docker = (await withDeadline(getContainerRuntimeClient(), 15_000, 'the Docker daemon')).container.dockerode;
  } catch (error) {
    return { ok: false, reason: `no Docker daemon answers (${(error as Error).message})` };
  }
  let labels: Record<string, string> | undefined;
  try {
    labels = (await docker.getImage(image).inspect()).Config.Labels ?? undefined;
  } catch {
    return { ok: false, reason: `the image ${image} is not built (scripts/docker-image.sh builds it)` };
  }
  const digest = await sourceDigest();
  if (labels?.['org.zkts.source'] !== digest) {
    return { ok: false, reason: `the image ${image} holds other code than dist/src (scripts/docker-image.sh rebuilds it)` };
  }
  return { ok: true };
}

let status: Promise<DockerStatus> | undefined;

/** Whether the container suites can run here, asked once per test file. */
export function dockerStatus(): Promise<DockerStatus> {
  status ??= probe();
  return status;
}

/** Skips the calling test with the reason, or fails it under CI=true. */
export async function requireDocker(context: { skip: (note?: string) => void }): Promise<void> {
  const docker = await dockerStatus();
  if (docker.ok) return;
  if (process.env.CI === 'true') throw new Error(`the container suites must run in CI: ${docker.reason}`);
  process.stderr.write(`test/containers: skipped: ${docker.reason}\n`);
  context.skip(docker.reason);
}
