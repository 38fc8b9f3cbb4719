import type { ZooKeeperClient } from '../client.js';
import { joinPath } from '../paths.js';
import type { AddWatchModeName, CreateModeName, WatchListener } from '../types.js';
import { formatAcl, formatEvent, formatStat, parseAcl } from './format.js';

/** What a command may touch. */
export interface CommandContext {
  /** The current client; throws a usage error when there is none. */
  client(): ZooKeeperClient;
  out(text: string): void;
  history: readonly string[];
  connect(connectString: string): Promise<void>;
  close(): Promise<void>;
  quit(): void;
}

interface ParsedArgs {
  flags: Map<string, string | true>;
  positional: string[];
}

/** A usage error: printed with the command's usage line. */
export class UsageError extends Error {}

interface Command {
  usage: string;
  /** Flags that take a value. */
  valued?: string[];
  /** Flags without a value. */
  switches?: string[];
  minArgs: number;
  maxArgs: number;
  run(ctx: CommandContext, args: ParsedArgs): Promise<void> | void;
}

function parseArgs(command: Command, words: string[]): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (/^-[a-zA-Z]+$/.test(w) && positional.length === 0) {
      const name = w.slice(1);
      if (command.valued?.includes(name)) {
        const value = words[++i];
        if (value === undefined) throw new UsageError(`option -${name} needs a value`);
        flags.set(name, value);
        continue;
      }
      for (const letter of name) {
        if (!command.switches?.includes(letter)) throw new UsageError(`unknown option -${letter}`);
        flags.set(letter, true);
      }
      continue;
    }
    positional.push(w);
  }
  if (positional.length < command.minArgs || positional.length > command.maxArgs) throw new UsageError('wrong number of arguments');
  return { flags, positional };
}

function versionOf(args: ParsedArgs): number | undefined {
  const v = args.flags.get('v');
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`version '${String(v)}' is not a number`);
  return n;
}

function watchPrinter(ctx: CommandContext): WatchListener {
  return (event) => ctx.out(formatEvent(event));
}

async function listRecursive(client: ZooKeeperClient, path: string, out: (s: string) => void): Promise<void> {
  out(path);
  const children = (await client.getChildren(path)).sort();
  for (const child of children) await listRecursive(client, joinPath(path, child), out);
}

async function deleteRecursive(client: ZooKeeperClient, path: string): Promise<void> {
  const children = await client.getChildren(path).catch((err: { codeName?: string }) => {
    if (err.codeName === 'NONODE') return [] as string[];
    throw err;
  });
  for (const child of children) await deleteRecursive(client, joinPath(path, child));
  if (path === '/') return;
  await client.delete(path).catch((err: { codeName?: string }) => {
    if (err.codeName !== 'NONODE') throw err;
  });
}

export const commands: Record<string, Command> = {
  ls: {
    usage: 'ls [-s] [-w] [-R] path',
    switches: ['s', 'w', 'R'],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      const client = ctx.client();
      const path = args.positional[0]!;
      if (args.flags.has('R')) {
        await listRecursive(client, path, ctx.out);
        return;
      }
      const watch = args.flags.has('w') ? watchPrinter(ctx) : undefined;
      const { children, stat } = await client.getChildrenWithStat(path, { watch });
      ctx.out(`[${children.sort().join(', ')}]`);
      if (args.flags.has('s')) ctx.out(formatStat(stat));
    },
  },
  get: {
    usage: 'get [-s] [-w] path',
    switches: ['s', 'w'],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      const watch = args.flags.has('w') ? watchPrinter(ctx) : undefined;
      const { data, stat } = await ctx.client().getData(args.positional[0]!, { watch });
      ctx.out(data === null ? 'null' : data.toString('utf8'));
      if (args.flags.has('s')) ctx.out(formatStat(stat));
    },
  },
  stat: {
    usage: 'stat [-w] path',
    switches: ['w'],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      const path = args.positional[0]!;
      const watch = args.flags.has('w') ? watchPrinter(ctx) : undefined;
      const stat = await ctx.client().exists(path, { watch });
      if (stat === null) throw Object.assign(new Error(`Node does not exist: ${path}`), { codeName: 'NONODE' });
      ctx.out(formatStat(stat));
    },
  },
  set: {
    usage: 'set [-s] [-v version] path data',
    switches: ['s'],
    valued: ['v'],
    minArgs: 2,
    maxArgs: 2,
    async run(ctx, args) {
      const version = versionOf(args);
      const stat = await ctx.client().setData(args.positional[0]!, args.positional[1]!, version === undefined ? {} : { version });
      if (args.flags.has('s')) ctx.out(formatStat(stat));
    },
  },
  create: {
    usage: 'create [-s] [-e] [-c] [-t ttl] path [data] [acl]',
    switches: ['s', 'e', 'c'],
    valued: ['t'],
    minArgs: 1,
    maxArgs: 3,
    async run(ctx, args) {
      const [path, data, aclText] = args.positional;
      const mode = createMode(args);
      const ttlText = args.flags.get('t');
      const ttl = ttlText === undefined ? undefined : Number(ttlText);
      if (ttl !== undefined && !Number.isInteger(ttl)) throw new UsageError(`ttl '${String(ttlText)}' is not a number`);
      const acl = aclText === undefined ? undefined : parseAcl(aclText);
      const result = await ctx.client().create(path!, data ?? null, { mode, ...(acl ? { acl } : {}), ...(ttl !== undefined ? { ttl } : {}) });
      ctx.out(`Created ${result.path}`);
    },
  },
  delete: {
    usage: 'delete [-v version] path',
    valued: ['v'],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      const version = versionOf(args);
      await ctx.client().delete(args.positional[0]!, version === undefined ? {} : { version });
    },
  },
  deleteall: {
    usage: 'deleteall path',
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      await deleteRecursive(ctx.client(), args.positional[0]!);
    },
  },
  getAcl: {
    usage: 'getAcl [-s] path',
    switches: ['s'],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      const { acl, stat } = await ctx.client().getACL(args.positional[0]!);
      if (args.flags.has('s')) ctx.out(formatStat(stat));
      ctx.out(formatAcl(acl));
    },
  },
  setAcl: {
    usage: 'setAcl [-s] [-v version] [-R] path acl',
    switches: ['s', 'R'],
    valued: ['v'],
    minArgs: 2,
    maxArgs: 2,
    async run(ctx, args) {
      const client = ctx.client();
      const [path, aclText] = args.positional as [string, string];
      const acl = parseAcl(aclText);
      const version = versionOf(args);
      if (args.flags.has('R')) {
        const paths: string[] = [];
        await listRecursive(client, path, (p) => paths.push(p));
        for (const p of paths) await client.setACL(p, acl);
        return;
      }
      const stat = await client.setACL(path, acl, version === undefined ? {} : { version });
      if (args.flags.has('s')) ctx.out(formatStat(stat));
    },
  },
  addauth: {
    usage: 'addauth scheme auth',
    minArgs: 2,
    maxArgs: 2,
    async run(ctx, args) {
      await ctx.client().addAuthInfo(args.positional[0]!, args.positional[1]!);
    },
  },
  whoami: {
    usage: 'whoami',
    minArgs: 0,
    maxArgs: 0,
    async run(ctx) {
      for (const info of await ctx.client().whoAmI()) ctx.out(`Auth scheme: ${info.authScheme}\nUser: ${info.user}`);
    },
  },
  sync: {
    usage: 'sync path',
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      await ctx.client().sync(args.positional[0]!);
      ctx.out('Sync is OK');
    },
  },
  addWatch: {
    usage: 'addWatch [-m mode] path  (mode: PERSISTENT or PERSISTENT_RECURSIVE, the default)',
    valued: ['m'],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      const mode = String(args.flags.get('m') ?? 'PERSISTENT_RECURSIVE').toUpperCase();
      if (mode !== 'PERSISTENT' && mode !== 'PERSISTENT_RECURSIVE') throw new UsageError(`unknown watch mode '${mode}'`);
      await ctx.client().addWatch(args.positional[0]!, mode as AddWatchModeName, watchPrinter(ctx));
    },
  },
  removewatches: {
    usage: 'removewatches path [-c|-d|-a] [-l]',
    switches: ['c', 'd', 'a', 'l'],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      const type = args.flags.has('c') ? 'Children' : args.flags.has('d') ? 'Data' : 'Any';
      await ctx.client().removeWatches(args.positional[0]!, type, { local: args.flags.has('l') });
    },
  },
  getEphemerals: {
    usage: 'getEphemerals [path]',
    minArgs: 0,
    maxArgs: 1,
    async run(ctx, args) {
      ctx.out(`[${(await ctx.client().getEphemerals(args.positional[0] ?? '/')).sort().join(', ')}]`);
    },
  },
  getAllChildrenNumber: {
    usage: 'getAllChildrenNumber path',
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      ctx.out(String(await ctx.client().getAllChildrenNumber(args.positional[0]!)));
    },
  },
  history: {
    usage: 'history',
    minArgs: 0,
    maxArgs: 0,
    run(ctx) {
      const start = Math.max(0, ctx.history.length - 11);
      for (let i = start; i < ctx.history.length; i++) ctx.out(`${i} - ${ctx.history[i]}`);
    },
  },
  connect: {
    usage: 'connect host:port[,host:port...][/chroot]',
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, args) {
      await ctx.connect(args.positional[0]!);
    },
  },
  close: {
    usage: 'close',
    minArgs: 0,
    maxArgs: 0,
    async run(ctx) {
      await ctx.close();
    },
  },
  quit: {
    usage: 'quit',
    minArgs: 0,
    maxArgs: 0,
    run(ctx) {
      ctx.quit();
    },
  },
  help: {
    usage: 'help',
    minArgs: 0,
    maxArgs: 0,
    run(ctx) {
      ctx.out('ZooKeeper -server host:port cmd args');
      for (const name of Object.keys(commands)) ctx.out(`\t${commands[name]!.usage}`);
    },
  },
};

function createMode(args: ParsedArgs): CreateModeName {
  const seq = args.flags.has('s');
  const eph = args.flags.has('e');
  const container = args.flags.has('c');
  const ttl = args.flags.has('t');
  if (container && (seq || eph || ttl)) throw new UsageError('-c cannot be combined with -s, -e or -t');
  if (ttl && eph) throw new UsageError('-t cannot be combined with -e');
  if (container) return 'CONTAINER';
  if (ttl) return seq ? 'PERSISTENT_SEQUENTIAL_WITH_TTL' : 'PERSISTENT_WITH_TTL';
  if (eph) return seq ? 'EPHEMERAL_SEQUENTIAL' : 'EPHEMERAL';
  return seq ? 'PERSISTENT_SEQUENTIAL' : 'PERSISTENT';
}

/** Runs one command line; returns false (after printing why) when it failed. */
export async function runCommand(ctx: CommandContext, words: string[], err: (text: string) => void): Promise<boolean> {
  const [name, ...rest] = words;
  if (name === undefined) return true;
  const command = commands[name];
  if (command === undefined) {
    err(`Unknown command: ${name}`);
    commands['help']!.run({ ...ctx, out: err }, { flags: new Map(), positional: [] });
    return false;
  }
  try {
    await command.run(ctx, parseArgs(command, rest));
    return true;
  } catch (e) {
    if (e instanceof UsageError) err(`${name}: ${e.message}\nusage: ${command.usage}`);
    else err((e as Error).message);
    return false;
  }
}

/** Names of commands, for completion. */
export const commandNames = Object.keys(commands);
