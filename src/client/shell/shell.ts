import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { createClient, type ZooKeeperClient } from '../client.js';
import { joinPath } from '../paths.js';
import { readTlsFiles, tlsFlags, type TlsFiles } from '../tls-files.js';
import type { ClientTlsOptions } from '../types.js';
import { commandNames, runCommand, type CommandContext } from './commands.js';
import { tokenize } from './format.js';

export interface ShellIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Treat stdin/stdout as a terminal (line editing, completion). Default: stdout.isTTY. */
  terminal?: boolean;
}

interface ShellArgs {
  connectString: string;
  timeout: number;
  readOnly: boolean;
  tlsFiles: TlsFiles;
  tls?: ClientTlsOptions;
  command: string[] | null;
}

const usage =
  'usage: zkts shell [--timeout ms] [--readonly] [--tls-ca F] [--tls-cert F --tls-key F] [host:port[,host:port...][/chroot]] [-- command args...]';
const tlsFlagNames: ReadonlyMap<string, keyof TlsFiles> = new Map(Object.entries(tlsFlags).map(([name, flag]) => [flag, name as keyof TlsFiles]));

function parseShellArgs(argv: string[]): ShellArgs {
  const out: ShellArgs = { connectString: '127.0.0.1:2181', timeout: 10_000, readOnly: false, tlsFiles: {}, command: null };
  let hostSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.command = argv.slice(i + 1);
      break;
    }
    if (a === '--timeout' || a === '-timeout') {
      out.timeout = Number(argv[++i]);
      if (!Number.isFinite(out.timeout) || out.timeout <= 0) throw new Error(`invalid timeout\n${usage}`);
    } else if (tlsFlagNames.has(a)) {
      const file = argv[++i];
      if (file === undefined || file === '') throw new Error(`${a} needs a file\n${usage}`);
      out.tlsFiles[tlsFlagNames.get(a)!] = file;
    } else if (a === '--readonly' || a === '-r') {
      out.readOnly = true;
    } else if (a === '--server' || a === '-server') {
      out.connectString = argv[++i] ?? '';
      hostSeen = true;
    } else if (a === '-h' || a === '--help') {
      throw new Error(usage);
    } else if (!hostSeen) {
      out.connectString = a;
      hostSeen = true;
    } else {
      // zkCli style: everything after the host is the command.
      out.command = argv.slice(i);
      break;
    }
  }
  if (out.command !== null && out.command.length === 0) throw new Error(`no command after --\n${usage}`);
  out.tls = readTlsFiles(out.tlsFiles);
  return out;
}

/**
 * `zkts shell`: an interactive ZooKeeper shell (zkCli-like), or with a command after the
 * host (`zkts shell HOSTS -- get /a`) a one-shot run that prints the result and returns a
 * non-zero exit code on error.
 */
export async function runShell(argv: string[], io: Partial<ShellIO> = {}): Promise<number> {
  const stdin = io.stdin ?? process.stdin;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let args: ShellArgs;
  try {
    args = parseShellArgs(argv);
  } catch (err) {
    stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (args.command !== null) return runOnce(args, args.command, stdout, stderr);
  const terminal = io.terminal ?? Boolean((stdout as { isTTY?: boolean }).isTTY);
  return interactive(args, { stdin, stdout, stderr, terminal });
}

function newClient(connectString: string, args: ShellArgs): ZooKeeperClient {
  return createClient(connectString, { sessionTimeout: 30_000, connectTimeout: args.timeout, canBeReadOnly: args.readOnly, tls: args.tls });
}

async function runOnce(args: ShellArgs, command: string[], stdout: Writable, stderr: Writable): Promise<number> {
  const out = (s: string): void => void stdout.write(`${s}\n`);
  const err = (s: string): void => void stderr.write(`${s}\n`);
  const client = newClient(args.connectString, args);
  try {
    await client.connect();
  } catch (e) {
    err((e as Error).message);
    return 1;
  }
  const ctx: CommandContext = {
    client: () => client,
    out,
    history: [],
    connect: async () => {
      throw new Error('connect is only available in the interactive shell');
    },
    close: () => client.close(),
    quit: () => undefined,
  };
  try {
    const ok = await runCommand(ctx, command, err);
    return ok ? 0 : 1;
  } finally {
    await client.close();
  }
}

async function interactive(args: ShellArgs, io: ShellIO): Promise<number> {
  const out = (s: string): void => void io.stdout.write(`${s}\n`);
  const err = (s: string): void => void io.stderr.write(`${s}\n`);
  const history: string[] = [];
  let client: ZooKeeperClient | null = null;
  let connectString = args.connectString;
  let quitting = false;

  const rl = readline.createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal: io.terminal ?? false,
    historySize: 1000,
    completer: (line: string, callback: (err: null, result: [string[], string]) => void) => {
      void complete(client, line).then((result) => callback(null, result));
    },
  });
  const prompt = (): string => `[zk: ${connectString}(${client?.state ?? 'CLOSED'}) ${history.length}] `;

  const open = (target: string): void => {
    const previous = client;
    if (previous !== null) void previous.close();
    connectString = target;
    const c = newClient(target, args);
    client = c;
    c.on('state', (change) => {
      if (change.state !== 'CONNECTING') {
        const session = change.state === 'SYNC_CONNECTED' || change.state === 'CONNECTED_READ_ONLY' ? ` (session ${c.sessionIdHex}, timeout ${c.sessionTimeout} ms)` : '';
        out(`\n${change.state}${session}${change.reason !== undefined && change.state !== 'CLOSED' ? `: ${change.reason}` : ''}`);
      }
      rl.setPrompt(prompt());
    });
    c.on('event', () => undefined);
    c.connect().catch((e: Error) => err(e.message));
  };

  const ctx: CommandContext = {
    client: () => {
      if (client === null || client.state === 'CLOSED') throw new Error('Not connected (use connect host:port)');
      return client;
    },
    out,
    history,
    connect: async (target) => {
      open(target);
      await client!.connect();
    },
    close: async () => {
      await client?.close();
    },
    quit: () => {
      quitting = true;
    },
  };

  open(connectString);
  rl.setPrompt(prompt());
  rl.prompt();
  for await (const line of rl) {
    const trimmed = line.trim();
    if (trimmed !== '') {
      history.push(trimmed);
      let words: string[] | null = null;
      try {
        words = tokenize(trimmed);
      } catch (e) {
        err((e as Error).message);
      }
      if (words !== null) await runCommand(ctx, words, err);
    }
    if (quitting) break;
    rl.setPrompt(prompt());
    rl.prompt();
  }
  rl.close();
  await (client as ZooKeeperClient | null)?.close();
  return 0;
}

/** Completes command names, then znode paths (children of the typed parent). */
async function complete(client: ZooKeeperClient | null, line: string): Promise<[string[], string]> {
  const words = line.split(/\s+/);
  const last = words[words.length - 1] ?? '';
  if (words.length <= 1) return [commandNames.filter((c) => c.startsWith(last)), last];
  if (!last.startsWith('/') || client === null || client.state !== 'SYNC_CONNECTED') return [[], last];
  const slash = last.lastIndexOf('/');
  const parent = slash === 0 ? '/' : last.slice(0, slash);
  try {
    const children = await client.getChildren(parent);
    const hits = children.map((c) => joinPath(parent, c)).filter((p) => p.startsWith(last)).sort();
    return [hits, last];
  } catch {
    return [[], last];
  }
}
