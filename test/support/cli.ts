// The `zkts` command run as a user runs it, for tests of the command itself: its flags, exit
// codes and what it prints. A test that needs a server to talk to starts one through the
// launcher (src/testing) instead.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../src/testing/member-process.js';
import { withDeadline } from './wait.js';

export const zktsBin = path.join(packageRoot, 'bin', 'zkts.js');

/** How a command ended and what it wrote. */
export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

export interface CliRunOptions {
  /** Added to this process's environment. */
  env?: Readonly<Record<string, string>>;
  /** Where it runs; default the package's directory. */
  cwd?: string;
  /** Killed (SIGKILL) and failed when it has not ended by then (scaled). */
  timeoutMs?: number;
  /**
   * File modes bind it even when the tests run as root: it runs without the capabilities that
   * let root ignore them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH; through util-linux's setpriv).
   * Not as another user: that user may not reach the package (a clone in a 0700 folder).
   */
  fileModesApply?: boolean;
  /** Called with the process once spawned, e.g. to signal a server when the test is done with it. */
  onStart?: (child: ChildProcess) => void;
}

/** Runs `node <args>` (in the package's directory unless told) to its end. */
export function runNode(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  const dropCapabilities = options.fileModesApply === true && process.getuid?.() === 0;
  const [command, commandArgs] = dropCapabilities
    ? ['setpriv', ['--bounding-set', '-dac_override,-dac_read_search', '--', process.execPath, ...args]]
    : [process.execPath, args];
  const child = spawn(command, commandArgs, {
    cwd: options.cwd ?? packageRoot,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  options.onStart?.(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<CliRun>((resolve) => child.once('close', (code) => resolve({ code, out, err })));
  return withDeadline(done, options.timeoutMs ?? 60_000, `node ${args.join(' ')}`).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
}

/** Runs `zkts <args>` to its end. */
export function runZkts(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return runNode([zktsBin, ...args], options);
}
