import { loadConfigFile, type ServerConfig } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { createRootLogger, type Logger } from '../logger.js';
import { ZkServer } from '../server/zk-server.js';

export interface RunningServer {
  stop(): Promise<void>;
}

/** Starts a standalone server from a parsed config. */
export async function startStandalone(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const server = new ZkServer({ config, log: log.child({ sid: 1, role: 'standalone' }) });
  await server.start();
  return server;
}

/** `zkts server <zoo.cfg>`: runs until SIGINT/SIGTERM. */
export async function runServer(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const file = args[0];
  if (file === undefined) {
    process.stderr.write('usage: zkts server <zoo.cfg>\n');
    return 2;
  }
  const log = createRootLogger({ level: env.ZKTS_LOG_LEVEL ?? 'info' });
  let config: ServerConfig;
  try {
    const parsed = loadConfigFile(file);
    config = parsed.config;
    for (const warning of parsed.warnings) log.warn({ file }, warning);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`zkts: invalid configuration in ${file}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config.servers.length > 0) {
    process.stderr.write(`zkts: ${file} lists server.N lines; ensemble mode is not available in this build\n`);
    return 2;
  }
  const running = await startStandalone(config, log);
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
