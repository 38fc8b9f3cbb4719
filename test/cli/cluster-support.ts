// Driving `zkts cluster` as a user does: `up` as a long-running process, every other subcommand
// as a process of its own, against a data directory of the test's.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { ClusterView } from '../../src/cli/cluster-view.js';
import { packageRoot as repoRoot } from '../../src/testing/member-process.js';
import { waitFor, withDeadline } from '../../src/testing/wait.js';
import { runZkts, zktsBin as bin, type CliRun } from '../support/cli.js';

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free ports, for --base-port: below the OS's ephemeral range
 * (32768 and up on Linux), so that no bind to port 0 is handed one of them meanwhile.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map(canListen))).every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found from 20000 to 32000`);
}

/** A running `zkts cluster up`. */
export class Up {
  out = '';
  err = '';
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly basePort: number,
  ) {
    child.stdout!.on('data', (c: Buffer) => (this.out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.err += c.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /**
   * Starts `zkts cluster up` on free proxy ports and waits for its first table. `ownGroup`: in a
   * process group of its own, as a shell starts a command, so that a Ctrl-C can be sent to it all.
   */
  static async start(dataDir: string, args: readonly string[] = [], members = 3, ownGroup = false): Promise<Up> {
    for (let attempt = 1; ; attempt++) {
      const basePort = await freePortRange(members);
      const child = spawn(process.execPath, [bin, 'cluster', 'up', '--base-port', String(basePort), '--data-dir', dataDir, '--tick-time', '200', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: ownGroup });
      const up = new Up(child, dataDir, basePort);
      const outcome = await Promise.race([
        waitFor('zkts cluster up to print its first table', () => up.lastTable() !== null, { timeoutMs: 60_000 }).then(() => 'up' as const),
        up.exited.then(() => 'exited' as const),
      ]);
      if (outcome === 'up') return up;
      // Someone took one of the ports between the check and the start: another range.
      if (/is in use/.test(up.err) && attempt < 3) continue;
      throw new Error(`zkts cluster up exited:\n${up.out}\n${up.err}`);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** What Ctrl-C on its terminal does: SIGINT to it and to every member (its process group). */
  ctrlC(): void {
    process.kill(-this.pid, 'SIGINT');
  }

  /** What up printed as its connection string. */
  get connectString(): string {
    return /^connection string: (\S+)$/m.exec(this.out)![1]!;
  }

  /** The last status table up printed: its headline and rows, or null before the first. */
  lastTable(): { headline: string; rows: Map<number, string> } | null {
    const blocks = this.out.split(/\n(?=\d\d:\d\d:\d\d {2}(?:leader: server \d+|no leader);)/);
    const last = blocks.at(-1);
    const match = last === undefined ? null : /^\d\d:\d\d:\d\d {2}((?:leader: server \d+|no leader);.*)\n {2}id .*\n((?: {2}\d.*\n)+)/.exec(last);
    if (match === null) return null;
    const rows = new Map(match[2]!.trimEnd().split('\n').map((line) => [Number(line.trim().split(/\s+/)[0]), line.trim()] as [number, string]));
    return { headline: match[1]!, rows };
  }

  /** `zkts cluster <args> --data-dir <this cluster's>`. */
  run(...args: string[]): Promise<CliRun> {
    return runZkts(['cluster', ...args, '--data-dir', this.dataDir]);
  }

  async status(): Promise<ClusterView> {
    const result = await this.run('status', '--json');
    if (result.code !== 0) throw new Error(`status failed (${result.code}): ${result.err}`);
    return JSON.parse(result.out) as ClusterView;
  }

  /** Stops it however it can: down, else SIGKILL (its members' lifeline then ends them). */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const down = await this.run('down').catch(() => null);
    if (down?.code !== 0) this.child.kill('SIGKILL');
    await withDeadline(this.exited, 30_000, 'zkts cluster up to exit');
  }
}
