// `zkts cluster`: a local ensemble to break on purpose. `up` runs it in the foreground (through
// the one launcher, src/testing); every other subcommand finds it through its data directory
// and asks it to do one thing over its control endpoint (cluster-control.ts).
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clientAuthModes, type ClientAuthMode } from '../config/security.js';
import type { TestingClusterOptions } from '../testing/cluster.js';
import { waitFor } from '../testing/wait.js';
import { NoClusterError, readControlFile, send } from './cluster-control.js';
import { commands, requestFromArgs, UsageError } from './cluster-requests.js';
import { runClusterUp } from './cluster-up.js';

export const defaultDataDir = 'data/cluster';
const downTimeoutMs = 30_000;

const usage = `usage: zkts cluster <subcommand> [--data-dir DIR]   (default DIR: ./${defaultDataDir})

  up [--nodes N] [--observers N] [--base-port P] [--tick-time MS]
     [--tls-keystore FILE [--tls-truststore FILE] [--tls-client-auth none|want|need]]
                         run a local ensemble in the foreground (default 3 nodes, clients on
                         127.0.0.1:2181 and up through fault proxies, tickTime 2000 ms); data is
                         kept in DIR across runs; Ctrl-C stops it. With --tls-keystore (PEM key
                         and certificate) every member also serves TLS clients behind its proxy;
                         --tls-truststore is the CA for client certificates (client auth then
                         defaults to need, else none)
  status [--json]        who leads, each member's process, mode, zxid and faults
  kill <id|leader>       SIGKILL a member
  stop|start|restart <id>   SIGTERM / start again on its data and ports / both
  pause|resume <id>      SIGSTOP / SIGCONT
  isolate <id>           cut a member off from its peers and its clients
  partition 1,2 3        cut the peer links between groups (members not named form one more group)
  heal                   remove every peer and client fault
  net <id> latency <ms> [--jitter MS] | drop <percent> | blackhole | reset | bandwidth <KiB/s> | heal
                         a fault on the client side of a member (its proxy), as Toxiproxy's toxics
  expire <sessionId|all> expire sessions now, as Curator's KillSession
  rolling-restart        restart every member in turn, each back and serving before the next
  down                   stop the cluster that up runs
`;

function fail(message: string, code: number): number {
  process.stderr.write(`zkts cluster: ${message}\n`);
  return code;
}

/** A whole number option in [min, max]; undefined when not given. */
function intOption(values: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (typeof text !== 'string' || !/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not '${String(text)}'`);
  return n;
}

/** A PEM file option: undefined when not given; refused when it cannot be read. */
async function fileOption(values: Record<string, unknown>, name: string): Promise<string | undefined> {
  const file = values[name];
  if (file === undefined) return undefined;
  if (typeof file !== 'string' || file === '') throw new UsageError(`--${name} must name a PEM file`);
  try {
    await access(file, constants.R_OK);
  } catch (error) {
    throw new UsageError(`--${name} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return path.resolve(file);
}

/** The TLS client port's options; undefined without --tls-keystore. */
async function tlsOptions(values: Record<string, unknown>): Promise<TestingClusterOptions['tls']> {
  const clientAuth = values['tls-client-auth'];
  if (clientAuth !== undefined && !(clientAuthModes as readonly unknown[]).includes(clientAuth)) throw new UsageError(`--tls-client-auth must be one of ${clientAuthModes.join(', ')}, not '${String(clientAuth)}'`);
  const keyStore = await fileOption(values, 'tls-keystore');
  const trustStore = await fileOption(values, 'tls-truststore');
  if (keyStore === undefined) {
    const stray = ['tls-truststore', 'tls-client-auth'].find((name) => values[name] !== undefined);
    if (stray !== undefined) throw new UsageError(`--${stray} goes with --tls-keystore (the members' key and certificate)`);
    return undefined;
  }
  // A member checks client certificates against the trust store: without one it refuses to start.
  if (trustStore === undefined && clientAuth !== undefined && clientAuth !== 'none') throw new UsageError(`--tls-client-auth ${String(clientAuth)} needs --tls-truststore (the CA client certificates are checked against)`);
  return { keyStore, ...(trustStore === undefined ? {} : { trustStore }), ...(clientAuth === undefined ? {} : { clientAuth: clientAuth as ClientAuthMode }) };
}

async function up(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      observers: { type: 'string' },
      'base-port': { type: 'string' },
      'data-dir': { type: 'string' },
      'tick-time': { type: 'string' },
      'tls-keystore': { type: 'string' },
      'tls-truststore': { type: 'string' },
      'tls-client-auth': { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`up takes options only, not '${positionals.join(' ')}' (the members' configs are written from them)`);
  const nodes = intOption(values, 'nodes', 1, 9);
  const observers = intOption(values, 'observers', 0, 9);
  const basePort = intOption(values, 'base-port', 0, 65_535 - 20) ?? 2181;
  const tickTime = intOption(values, 'tick-time', 10, 60_000) ?? 2000;
  const tls = await tlsOptions(values);
  return runClusterUp({
    dataDir: path.resolve(values['data-dir'] ?? defaultDataDir),
    dataDirArgument: values['data-dir'] === undefined || path.resolve(values['data-dir']) === path.resolve(defaultDataDir) ? '' : values['data-dir'],
    nodes,
    observers,
    basePort,
    tickTime,
    tls,
    logLevel: env.ZKTS_LOG_LEVEL ?? 'info',
    env: {},
  });
}

async function command(name: string, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, jitter: { type: 'string' } } });
  if (values.json === true && name !== 'status') throw new UsageError('--json goes with status');
  const request = requestFromArgs(name, positionals, { jitter: values.jitter });
  const dataDir = path.resolve(values['data-dir'] ?? defaultDataDir);
  const control = await readControlFile(dataDir);
  const reply = await send(control, request, (line) => process.stdout.write(`${line}\n`));
  if (!reply.ok) return fail(`${name}: ${reply.error}`, 1);
  process.stdout.write(values.json === true ? `${JSON.stringify(reply.data, null, 2)}\n` : `${reply.message}\n`);
  if (request.command === 'down') await waitForExit(control.pid, (reply.data as { memberPids?: number[] } | undefined)?.memberPids ?? []);
  return 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits until the `up` process and its members are gone. */
async function waitForExit(pid: number, memberPids: readonly number[]): Promise<void> {
  await waitFor(`zkts cluster up (pid ${pid}) and its members to exit`, () => ![pid, ...memberPids].some(alive), { timeoutMs: downTimeoutMs, intervalMs: 50 });
  process.stdout.write(`zkts cluster up (pid ${pid}) exited; no member process is left\n`);
}

/** `zkts cluster <subcommand> ...`; returns the exit code. */
export async function runCluster(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...rest] = args;
  try {
    if (name === 'up') return await up(rest, env);
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      process.stdout.write(usage);
      return name === undefined ? 2 : 0;
    }
    if (!(commands as readonly string[]).includes(name)) return fail(`unknown subcommand '${name}'\n${usage}`, 2);
    return await command(name, rest);
  } catch (error) {
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) return fail(`${(error as Error).message}\n(zkts cluster --help lists the subcommands)`, 2);
    if (error instanceof NoClusterError) return fail(error.message, 1);
    return fail(`${name}: ${(error as Error).message}`, 1);
  }
}
