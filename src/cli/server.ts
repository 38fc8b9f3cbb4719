import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfigFile, readMyId, type ServerConfig } from '../config/config.js';
import { ConfigError, StartupError, StorageError } from '../errors.js';
import { createRootLogger, type Logger } from '../logger.js';
import type { PeerFaultHook } from '../quorum/peer-options.js';
import { ensembleMember, standaloneNode } from '../server/assemble.js';
import type { FatalHandler } from '../server/committer.js';
import type { ServerNode } from '../server/node.js';
import { LogSink, Snapshotter, checkDataDirectories, memberStorage, recoverEnsemble, recoverStandalone } from '../server/persistence.js';
import { startYoungGenerationTrim } from '../server/young-generation-trim.js';
import { controlEnvKey, controlEnvValue } from '../testing/control.js';
import { prepareConfigFromEnv } from './env-config.js';
import { openControlChannel } from './member-control.js';

export interface RunningServer {
  readonly node: ServerNode;
  /** The port clients connect to (the one the OS chose when the config says 0). */
  readonly clientPort: number;
  stop(): Promise<void>;
}

const hourMs = 3_600_000;

/** Exit status of a server that hit a failure it cannot go on from (EX_SOFTWARE). */
export const fatalExitCode = 70;

function startPurgeTimer(config: ServerConfig, snapshotter: Snapshotter): NodeJS.Timeout | null {
  if (config.purgeInterval <= 0) return null;
  const timer = setInterval(() => void snapshotter.purge(), config.purgeInterval * hourMs);
  timer.unref();
  return timer;
}

/**
 * Starts one server on its dataDir: check the directories, recover, assemble the node
 * (standalone, or an ensemble member when the config has server.N lines), bind every port it
 * needs (all or none), then serve. `onFatal` hears a failure it cannot go on from; `faults`
 * reaches an ensemble member's peer transport (the launcher's control channel drives it).
 */
export async function startNode(config: ServerConfig, log: Logger, onFatal: FatalHandler, faults?: PeerFaultHook): Promise<RunningServer> {
  await checkDataDirectories(config);
  return config.servers.length > 0 ? startEnsembleMember(config, log, onFatal, faults) : startStandalone(config, log, onFatal);
}

async function startStandalone(config: ServerConfig, log: Logger, onFatal: FatalHandler): Promise<RunningServer> {
  const serverLog = log.child({ sid: 1, role: 'standalone' });
  const { tree, storage } = await recoverStandalone(config, serverLog);
  const snapshotter = new Snapshotter(storage, () => tree, config, serverLog);
  const node = standaloneNode({ config, log: serverLog, tree, sink: new LogSink(storage, snapshotter), onFatal });
  const closeStorage = async () => {
    await snapshotter.idle();
    await storage.close();
  };
  return serve(node, config, snapshotter, closeStorage);
}

async function startEnsembleMember(config: ServerConfig, log: Logger, onFatal: FatalHandler, faults?: PeerFaultHook): Promise<RunningServer> {
  const sid = readMyId(config);
  const memberLog = log.child({ sid });
  const me = config.servers.find((s) => s.sid === sid)!;
  const clientPort = config.clientPort !== null && config.clientPort >= 0 ? config.clientPort : me.clientPort;
  if (clientPort === null && config.clientTls === null) {
    throw new ConfigError(`server.${sid}`, 'no clientPort: set clientPort or secureClientPort, or add ;clientPort to the server line');
  }
  const effective: ServerConfig = Object.freeze({ ...config, clientPort });
  const { recovery, storage } = await recoverEnsemble(effective, memberLog);
  let node: ServerNode | null = null;
  const snapshotter = new Snapshotter(storage, () => node!.tree, effective, memberLog);
  const disk = memberStorage(storage, snapshotter);
  node = ensembleMember({ config: effective, log: memberLog, serverId: sid, storage: disk, recovery, onFatal, faults });
  return serve(node, effective, snapshotter, () => disk.close());
}

/** Binds and begins; when a port cannot be had, nothing stays bound and the storage is closed. */
async function serve(node: ServerNode, config: ServerConfig, snapshotter: Snapshotter, closeStorage: () => Promise<void>): Promise<RunningServer> {
  try {
    await node.start();
  } catch (err) {
    await closeStorage().catch(() => undefined);
    throw err;
  }
  const purgeTimer = startPurgeTimer(config, snapshotter);
  return {
    node,
    clientPort: node.port,
    stop: async () => {
      if (purgeTimer !== null) clearInterval(purgeTimer);
      await node.stop();
      await closeStorage();
    },
  };
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const serverUsage = `usage: zkts server <zoo.cfg> [--from-env] [--log-level ${logLevels.join('|')}]\n`;

/**
 * `zkts server <zoo.cfg> [--from-env] [--log-level L]`: runs until SIGINT/SIGTERM. The flag
 * wins over ZKTS_LOG_LEVEL. --from-env (the container image's) first writes a missing zoo.cfg
 * and myid from the ZOO_* variables.
 */
export async function runServer(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed: { values: { 'log-level'?: string; 'from-env'?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { 'log-level': { type: 'string' }, 'from-env': { type: 'boolean' } } });
  } catch (err) {
    process.stderr.write(`zkts server: ${(err as Error).message}\n${serverUsage}`);
    return 2;
  }
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length > 1) {
    process.stderr.write(serverUsage);
    return 2;
  }
  const level = parsed.values['log-level'] ?? env.ZKTS_LOG_LEVEL ?? 'info';
  if (!logLevels.includes(level)) {
    const source = parsed.values['log-level'] !== undefined ? '--log-level' : 'ZKTS_LOG_LEVEL';
    process.stderr.write(`zkts server: ${source} must be one of ${logLevels.join(', ')}, not '${level}'\n`);
    return 2;
  }
  const log = createRootLogger({ level });
  const loadedMs = performance.now();
  if (parsed.values['from-env'] === true) {
    try {
      const prepared = prepareConfigFromEnv(file, env);
      log.info({ file, ...prepared }, 'configuration prepared from the environment');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`zkts server: cannot configure from the environment: ${err.message}\n`);
      return 2;
    }
  }
  const exit = (code: number): never => {
    log.flush();
    process.exit(code);
  };
  // A failed fsync or a broken invariant: this server cannot go on safely.
  const onFatal: FatalHandler = (err, what) => {
    log.fatal({ err }, what);
    process.stderr.write(`zkts: ${what}: ${(err as Error)?.message ?? String(err)}; exiting\n`);
    exit(fatalExitCode);
  };
  const control = env[controlEnvKey] === controlEnvValue && process.send !== undefined ? await openControlChannel(log) : null;
  let running: RunningServer;
  try {
    const loaded = loadConfigFile(file);
    for (const warning of loaded.warnings) log.warn({ file }, warning);
    const config = loaded.config;
    const faults = control !== null && config.servers.length > 0 ? control.peerFaultsFor(readMyId(config)) : undefined;
    running = await startNode(config, log, onFatal, faults);
  } catch (err) {
    await control?.failed(err);
    return exit(startFailureCode(err, file, log));
  }
  // One per process, so here rather than in startNode (tests run several servers in one).
  const trim = startYoungGenerationTrim(log.child({ component: 'heap' }));
  const cpu = process.cpuUsage();
  // The handlers go in before the launcher hears 'started': a SIGTERM it sends at once must stop
  // this server cleanly, not find no handler and end it by the signal's default action.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    control?.onLauncherGone(() => stop('launcher gone'));
  });
  control?.report({ type: 'started', clientPort: running.clientPort, timing: { bootstrapMs: performance.nodeTiming.bootstrapComplete, loadedMs, listeningMs: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000 } });
  await stopped;
  trim?.stop();
  await running.stop();
  control?.close();
  log.flush();
  return 0;
}

/**
 * Says why a server did not start, on stderr and in the log, and picks the exit status:
 * 2 invalid configuration, 3 storage that cannot be recovered, 4 a port or directory the
 * config names that cannot be used, 1 anything else. Nothing is left bound or running.
 */
function startFailureCode(err: unknown, file: string, log: Logger): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`zkts: invalid configuration in ${file}: ${err.message}\n`);
    return 2;
  }
  if (err instanceof StorageError) {
    log.fatal({ err }, 'cannot recover from disk');
    process.stderr.write(`zkts: cannot start: ${err.message}\n`);
    return 3;
  }
  if (err instanceof StartupError) {
    log.fatal({ err, key: err.key, value: err.value }, 'cannot start');
    process.stderr.write(`zkts: cannot start: ${err.message}\n`);
    return 4;
  }
  log.fatal({ err }, 'cannot start');
  process.stderr.write(`zkts: cannot start: ${(err as Error)?.message ?? String(err)}\n`);
  return 1;
}
