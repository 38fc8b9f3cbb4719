import { parseArgs } from 'node:util';
import { loadConfigFile, readMyId, type ServerConfig } from '../config/config.js';
import { ConfigError, StorageError } from '../errors.js';
import { createRootLogger, type Logger } from '../logger.js';
import { EnsembleServer } from '../server/ensemble-server.js';
import { LogSink, Snapshotter, ensembleStorage, recoverEnsemble, recoverStandalone } from '../server/persistence.js';
import { ZkServer } from '../server/zk-server.js';
import { prepareConfigFromEnv } from './env-config.js';

export interface RunningServer {
  stop(): Promise<void>;
}

const hourMs = 3_600_000;

function startPurgeTimer(config: ServerConfig, snapshotter: Snapshotter): NodeJS.Timeout | null {
  if (config.purgeInterval <= 0) return null;
  const timer = setInterval(() => void snapshotter.purge(), config.purgeInterval * hourMs);
  timer.unref();
  return timer;
}

/** Starts a standalone server on its dataDir: recover, then serve, logging every write first. */
export async function startStandalone(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const serverLog = log.child({ sid: 1, role: 'standalone' });
  const { tree, storage } = await recoverStandalone(config, serverLog);
  const snapshotter = new Snapshotter(storage, () => tree, config, serverLog);
  const server = new ZkServer({ config, log: serverLog, tree, sink: new LogSink(storage, snapshotter) });
  await server.start();
  const purgeTimer = startPurgeTimer(config, snapshotter);
  return {
    stop: async () => {
      if (purgeTimer !== null) clearInterval(purgeTimer);
      await server.stop();
      await snapshotter.idle();
      await storage.close();
    },
  };
}

/** Starts one ensemble member: recover, then join the election. */
export async function startEnsembleMember(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const sid = readMyId(config);
  const memberLog = log.child({ sid });
  const me = config.servers.find((s) => s.sid === sid)!;
  const clientPort = config.clientPort >= 0 ? config.clientPort : me.clientPort;
  if (clientPort === null) throw new ConfigError(`server.${sid}`, 'no clientPort: set clientPort or add ;clientPort to the server line');
  const effective: ServerConfig = Object.freeze({ ...config, clientPort });
  const { recovery, storage } = await recoverEnsemble(effective, memberLog);
  let server: EnsembleServer | null = null;
  const snapshotter = new Snapshotter(storage, () => server!.tree, effective, memberLog);
  server = new EnsembleServer({ config: effective, log: memberLog, serverId: sid, storage: ensembleStorage(storage, snapshotter), recovery });
  await server.start();
  const purgeTimer = startPurgeTimer(effective, snapshotter);
  const running = server;
  return {
    stop: async () => {
      if (purgeTimer !== null) clearInterval(purgeTimer);
      await running.stop();
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
  let running: RunningServer;
  try {
    const loaded = loadConfigFile(file);
    for (const warning of loaded.warnings) log.warn({ file }, warning);
    const config = loaded.config;
    running = config.servers.length > 0 ? await startEnsembleMember(config, log) : await startStandalone(config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`zkts: invalid configuration in ${file}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof StorageError) {
      log.fatal({ err }, 'cannot recover from disk');
      process.stderr.write(`zkts: cannot start: ${err.message}\n`);
      log.flush();
      return 3;
    }
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await running.stop();
  log.flush();
  return 0;
}
