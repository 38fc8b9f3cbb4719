// `zkts server` as a real process, run to its exit, and ports held to make a start fail: for
// the start-up tests (a refused start names the key, the value and the cause on stderr).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDeadline } from '../../src/testing/wait.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const zkts = path.join(repoRoot, 'bin', 'zkts.js');

/** What a refused start exits with (cli/server.ts): the config is invalid. */
export const invalidConfigExit = 2;
/** What a refused start exits with (cli/server.ts): a port or directory the config names is unusable. */
export const unusableResourceExit = 4;

export interface Finished {
  code: number | null;
  stderr: string;
}

/** Throws unless dist/ holds a build: the process runs the compiled server. */
export function requireBuild(): void {
  if (!existsSync(path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) throw new Error('zkts is not built: run `npm run build` first');
}

/** Runs `zkts server <cfg>` to its exit; `asUser` runs it as another uid (root only). */
export function runServerProcess(configPath: string, asUser?: number): Promise<Finished> {
  const child = spawn(process.execPath, [zkts, 'server', configPath, '--log-level', 'silent'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(asUser === undefined ? {} : { uid: asUser, gid: asUser }),
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<Finished>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return withDeadline(exited, 15_000, 'the server to exit').finally(() => child.kill('SIGKILL'));
}

/** Holds 127.0.0.1:port until closed. */
export async function holdPort(port: number): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

/** Whether 127.0.0.1:port can be bound now (nobody holds it). */
export async function isFree(port: number): Promise<boolean> {
  try {
    const server = await holdPort(port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return true;
  } catch {
    return false;
  }
}
