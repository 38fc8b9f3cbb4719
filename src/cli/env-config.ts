import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { knownFourLetterWords, loadConfigFile, parseServerLine, type PeerSpec } from '../config/config.js';
import { ConfigError } from '../errors.js';

// The container image's configuration: zoo.cfg written from ZOO_* environment variables, as
// the official ZooKeeper image does it (same names, same defaults, same "a mounted zoo.cfg
// wins" and "myid is written only once" rules). A bad value is refused naming the variable.

type Env = Readonly<Record<string, string | undefined>>;

/** One variable: the zoo.cfg key it sets, its default, and how its value is checked. */
interface Setting {
  variable: string;
  key: string;
  fallback: string;
  check: (variable: string, raw: string) => string;
}

function integer(min: number) {
  return (variable: string, raw: string): string => {
    const text = raw.trim();
    if (!/^\d+$/.test(text)) throw new ConfigError(variable, `'${raw}' is not a whole number`);
    if (Number(text) < min) throw new ConfigError(variable, `${text} is less than ${min}`);
    return String(Number(text));
  };
}

function boolean(variable: string, raw: string): string {
  const text = raw.trim().toLowerCase();
  if (text !== 'true' && text !== 'false') throw new ConfigError(variable, `'${raw}' is not true or false`);
  return text;
}

function absolutePath(variable: string, raw: string): string {
  const text = raw.trim();
  if (!isAbsolute(text)) throw new ConfigError(variable, `'${raw}' is not an absolute path`);
  return text;
}

/** The image's health check asks `ruok`, so the list must allow it. */
function fourLetterWords(variable: string, raw: string): string {
  const text = raw.trim();
  if (text === '*') return text;
  const words = text.split(',').map((w) => w.trim()).filter((w) => w !== '');
  for (const word of words) {
    if (!(knownFourLetterWords as readonly string[]).includes(word)) throw new ConfigError(variable, `unknown four-letter word '${word}'`);
  }
  if (!words.includes('ruok')) throw new ConfigError(variable, `'${raw}' leaves out ruok, which the image's health check sends`);
  return words.join(',');
}

/** In the order they are written; defaults are the official image's, except the 4lw list. */
export const envSettings: readonly Setting[] = [
  { variable: 'ZOO_DATA_DIR', key: 'dataDir', fallback: '/data', check: absolutePath },
  { variable: 'ZOO_DATA_LOG_DIR', key: 'dataLogDir', fallback: '/datalog', check: absolutePath },
  { variable: 'ZOO_TICK_TIME', key: 'tickTime', fallback: '2000', check: integer(1) },
  { variable: 'ZOO_INIT_LIMIT', key: 'initLimit', fallback: '5', check: integer(1) },
  { variable: 'ZOO_SYNC_LIMIT', key: 'syncLimit', fallback: '2', check: integer(1) },
  { variable: 'ZOO_MAX_CLIENT_CNXNS', key: 'maxClientCnxns', fallback: '60', check: integer(0) },
  { variable: 'ZOO_AUTOPURGE_SNAPRETAINCOUNT', key: 'autopurge.snapRetainCount', fallback: '3', check: integer(3) },
  { variable: 'ZOO_AUTOPURGE_PURGEINTERVAL', key: 'autopurge.purgeInterval', fallback: '0', check: integer(0) },
  { variable: 'ZOO_STANDALONE_ENABLED', key: 'standaloneEnabled', fallback: 'true', check: boolean },
  { variable: 'ZOO_4LW_COMMANDS_WHITELIST', key: '4lw.commands.whitelist', fallback: 'srvr,ruok', check: fourLetterWords },
];

/** The client port when no ZOO_SERVERS line names one, as in the official image. */
const defaultClientPort = 2181;

function words(raw: string | undefined): string[] {
  return (raw ?? '').split(/\s+/).filter((w) => w !== '');
}

/** ZOO_SERVERS: `server.N=host:port:port[:role][;[host:]clientPort]` entries separated by spaces. */
export function serversFromEnv(env: Env): PeerSpec[] {
  const servers: PeerSpec[] = [];
  for (const entry of words(env.ZOO_SERVERS)) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? '' : entry.slice(0, eq);
    if (!/^server\.\d+$/.test(key)) throw new ConfigError('ZOO_SERVERS', `'${entry}' is not server.N=host:quorumPort:electionPort[;clientPort]`);
    let server: PeerSpec;
    try {
      server = parseServerLine(key, entry.slice(eq + 1));
    } catch (err) {
      throw new ConfigError('ZOO_SERVERS', (err as Error).message, { cause: err });
    }
    if (servers.some((s) => s.sid === server.sid)) throw new ConfigError('ZOO_SERVERS', `server.${server.sid} appears twice`);
    servers.push(server);
  }
  const withPort = servers.filter((s) => s.clientPort !== null).length;
  if (withPort > 0 && withPort < servers.length) {
    throw new ConfigError('ZOO_SERVERS', 'some entries give a client port (;2181) and some do not: give it in all or in none');
  }
  return servers;
}

/** ZOO_MY_ID, checked against the servers (`where` says where they come from); required when there are servers. */
export function myIdFromEnv(env: Env, servers: readonly PeerSpec[], where = 'ZOO_SERVERS'): number | null {
  const raw = env.ZOO_MY_ID;
  if (raw === undefined || raw.trim() === '') {
    if (servers.length > 0) throw new ConfigError('ZOO_MY_ID', `is required with the servers in ${where} (this member's N in server.N)`);
    return null;
  }
  const text = raw.trim();
  if (!/^\d+$/.test(text) || Number(text) > 254) throw new ConfigError('ZOO_MY_ID', `'${raw}' is not a server id from 0 to 254`);
  const id = Number(text);
  if (servers.length > 0 && !servers.some((s) => s.sid === id)) throw new ConfigError('ZOO_MY_ID', `${id} has no server.${id} entry in ${where}`);
  return id;
}

/** The zoo.cfg text the ZOO_* variables describe. Pure: env in, text out. */
export function zooCfgFromEnv(env: Env): string {
  const lines = ['# Written by `zkts server --from-env` from the ZOO_* environment variables.'];
  for (const setting of envSettings) {
    const raw = env[setting.variable];
    const value = raw === undefined || raw.trim() === '' ? setting.fallback : setting.check(setting.variable, raw);
    lines.push(`${setting.key}=${value}`);
  }
  const servers = serversFromEnv(env);
  myIdFromEnv(env, servers);
  if (servers.every((s) => s.clientPort === null)) lines.push(`clientPort=${defaultClientPort}`);
  lines.push(...words(env.ZOO_SERVERS));
  for (const entry of words(env.ZOO_CFG_EXTRA)) {
    if (!/^[^=\s]+=/.test(entry)) throw new ConfigError('ZOO_CFG_EXTRA', `'${entry}' is not key=value`);
    lines.push(entry);
  }
  return `${lines.join('\n')}\n`;
}

export interface PreparedConfig {
  /** Whether zoo.cfg was written now (false: a mounted or earlier one was kept). */
  written: boolean;
  /** Whether dataDir/myid was written now. */
  myIdWritten: boolean;
}

/**
 * What the image does before starting the server: writes `file` from the environment unless
 * it exists (a mounted zoo.cfg wins), then writes dataDir/myid from ZOO_MY_ID unless it
 * exists (a member keeps its id across restarts with its data volume).
 */
export function prepareConfigFromEnv(file: string, env: Env): PreparedConfig {
  let written = false;
  if (!existsSync(file)) {
    const text = zooCfgFromEnv(env);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text, { flag: 'wx' });
    written = true;
  }
  const { config } = loadConfigFile(file);
  const myIdFile = join(config.dataDir, 'myid');
  if (config.servers.length === 0 || existsSync(myIdFile)) return { written, myIdWritten: false };
  // Not null: with servers listed, a missing ZOO_MY_ID throws.
  const id = myIdFromEnv(env, config.servers, file)!;
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(myIdFile, `${id}\n`, { flag: 'wx' });
  return { written, myIdWritten: true };
}
