// `zkts server` as a real process, run to its exit, and ports held to make a start fail: for
// the start-up tests (a refused start names the key, the value and the cause on stderr).
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { packageRoot } from '../../src/testing/member-process.js';
import { runZkts } from './cli.js';

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
  if (!existsSync(path.join(packageRoot, 'dist', 'src', 'cli', 'main.js'))) throw new Error('zkts is not built: run `npm run build` first');
}

/** Runs `zkts server <cfg>` to its exit; with `fileModesApply`, file modes bind it even as root. */
export async function runServerProcess(configPath: string, fileModesApply = false): Promise<Finished> {
  const { code, err } = await runZkts(['server', configPath, '--log-level', 'silent'], { fileModesApply, timeoutMs: 15_000 });
  return { code, stderr: err };
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
