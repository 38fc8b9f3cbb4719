// What a `zkts cluster <subcommand>` asks the running cluster to do, as data: built from argv
// by the command and checked again, from JSON, by the control endpoint (which trusts nothing
// it receives). One checker serves both sides.
import { latencyMsMax } from '../faults/toxics.js';

/** A member id, or the one that leads at the time. */
export type Target = number | 'leader';

/** A fault on the client side of one member, as its proxy's toxic. */
export type NetFault =
  | { kind: 'latency'; ms: number; jitterMs: number }
  | { kind: 'drop'; percent: number }
  | { kind: 'blackhole' }
  | { kind: 'reset' }
  | { kind: 'bandwidth'; kibPerSecond: number }
  | { kind: 'heal' };

export type ClusterRequest =
  | { command: 'status' }
  | { command: 'kill'; target: Target }
  | { command: 'stop' | 'start' | 'restart' | 'pause' | 'resume' | 'isolate'; id: number }
  | { command: 'partition'; groups: number[][] }
  | { command: 'heal' }
  | { command: 'net'; id: number; fault: NetFault }
  | { command: 'expire'; session: string }
  | { command: 'rolling-restart' }
  | { command: 'down' };

export type Command = ClusterRequest['command'];

const memberCommands = ['stop', 'start', 'restart', 'pause', 'resume', 'isolate'] as const;
const plainCommands = ['status', 'heal', 'rolling-restart', 'down'] as const;
export const commands: readonly Command[] = [...plainCommands, 'kill', ...memberCommands, 'partition', 'net', 'expire'];

/** The highest member id a zoo.cfg allows. */
const memberIdMax = 254;
const bandwidthKibPerSecondMax = 10_000_000;

/** Bad arguments or a malformed request: the command exits 2, the endpoint answers 400. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function memberId(value: unknown, what = 'a member id'): number {
  const id = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > memberIdMax) throw new UsageError(`${what} must be a whole number from 1 to ${memberIdMax}, not ${JSON.stringify(value)}`);
  return id;
}

function numberIn(value: unknown, what: string, min: number, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !(n >= min && n <= max)) throw new UsageError(`${what} must be a number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

function netFault(value: unknown): NetFault {
  const f = value as Record<string, unknown> | null;
  if (f === null || typeof f !== 'object') throw new UsageError('fault must be an object');
  switch (f.kind) {
    case 'latency':
      return { kind: 'latency', ms: numberIn(f.ms, 'latency ms', 0, latencyMsMax), jitterMs: numberIn(f.jitterMs ?? 0, 'jitter ms', 0, latencyMsMax) };
    case 'drop':
      return { kind: 'drop', percent: numberIn(f.percent, 'drop percent', 0, 100) };
    case 'bandwidth':
      return { kind: 'bandwidth', kibPerSecond: numberIn(f.kibPerSecond, 'bandwidth KiB/s', 1, bandwidthKibPerSecondMax) };
    case 'blackhole':
    case 'reset':
    case 'heal':
      return { kind: f.kind };
    default:
      throw new UsageError(`unknown net fault ${JSON.stringify(f.kind)}: latency, drop, blackhole, reset, bandwidth or heal`);
  }
}

function groups(value: unknown): number[][] {
  if (!Array.isArray(value) || value.length === 0) throw new UsageError('partition needs at least one group of member ids');
  const seen = new Set<number>();
  return value.map((group: unknown) => {
    if (!Array.isArray(group) || group.length === 0) throw new UsageError('each partition group is a non-empty list of member ids');
    return group.map((v: unknown) => {
      const id = memberId(v, 'a member id in a partition group');
      if (seen.has(id)) throw new UsageError(`server ${id} is in two partition groups`);
      seen.add(id);
      return id;
    });
  });
}

function sessionSpec(value: unknown): string {
  if (value === 'all') return value;
  if (typeof value !== 'string' || !/^0x[0-9a-f]{1,16}$/i.test(value)) throw new UsageError(`a session is 'all' or a hex session id like 0x1000a2b3c4d0000, not ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** Checks a request that arrived as data; throws a UsageError naming what is wrong. */
export function parseClusterRequest(value: unknown): ClusterRequest {
  const r = value as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new UsageError('a request is a JSON object with a command');
  const command = r.command;
  if ((plainCommands as readonly unknown[]).includes(command)) return { command: command as (typeof plainCommands)[number] };
  if ((memberCommands as readonly unknown[]).includes(command)) return { command: command as (typeof memberCommands)[number], id: memberId(r.id) };
  switch (command) {
    case 'kill':
      return { command, target: r.target === 'leader' ? 'leader' : memberId(r.target, "kill's target (a member id or 'leader')") };
    case 'partition':
      return { command, groups: groups(r.groups) };
    case 'net':
      return { command, id: memberId(r.id), fault: netFault(r.fault) };
    case 'expire':
      return { command, session: sessionSpec(r.session) };
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; the commands are ${commands.join(', ')}`);
  }
}

function exactly(args: readonly string[], count: number, usage: string): void {
  if (args.length !== count) throw new UsageError(`usage: zkts cluster ${usage}`);
}

function netFaultFromArgs(args: readonly string[], jitter: string | undefined): NetFault {
  const [kind, ...rest] = args;
  if (jitter !== undefined && kind !== 'latency') throw new UsageError('--jitter goes with net <id> latency <ms>');
  const netUsage = 'net <id> latency <ms> [--jitter MS] | drop <percent> | blackhole | reset | bandwidth <KiB/s> | heal';
  switch (kind) {
    case 'latency':
      exactly(rest, 1, netUsage);
      return netFault({ kind, ms: rest[0], jitterMs: jitter ?? 0 });
    case 'drop':
      exactly(rest, 1, netUsage);
      return netFault({ kind, percent: rest[0]!.replace(/%$/, '') });
    case 'bandwidth':
      exactly(rest, 1, netUsage);
      return netFault({ kind, kibPerSecond: rest[0] });
    case 'blackhole':
    case 'reset':
    case 'heal':
      exactly(rest, 0, netUsage);
      return { kind };
    default:
      throw new UsageError(`usage: zkts cluster ${netUsage}`);
  }
}

/** The request a subcommand's arguments describe: its positionals, and --jitter's value. */
export function requestFromArgs(command: string, args: readonly string[], options: { jitter?: string } = {}): ClusterRequest {
  if (options.jitter !== undefined && command !== 'net') throw new UsageError('--jitter goes with net <id> latency <ms>');
  switch (command) {
    case 'status':
    case 'heal':
    case 'rolling-restart':
    case 'down':
      exactly(args, 0, command);
      return { command };
    case 'kill':
      exactly(args, 1, 'kill <id|leader>');
      return parseClusterRequest({ command, target: args[0] });
    case 'stop':
    case 'start':
    case 'restart':
    case 'pause':
    case 'resume':
    case 'isolate':
      exactly(args, 1, `${command} <id>`);
      return parseClusterRequest({ command, id: args[0] });
    case 'partition':
      if (args.length === 0) throw new UsageError('usage: zkts cluster partition <ids,...> [<ids,...> ...]   e.g. partition 1,2 3');
      return parseClusterRequest({ command, groups: args.map((g) => g.split(',').filter((id) => id !== '')) });
    case 'net':
      if (args.length < 2) throw new UsageError('usage: zkts cluster net <id> latency <ms> [--jitter MS] | drop <percent> | blackhole | reset | bandwidth <KiB/s> | heal');
      return { command, id: memberId(args[0]), fault: netFaultFromArgs(args.slice(1), options.jitter) };
    case 'expire':
      exactly(args, 1, 'expire <sessionId|all>');
      return parseClusterRequest({ command, session: args[0] });
    default:
      throw new UsageError(`unknown subcommand '${command}'`);
  }
}
