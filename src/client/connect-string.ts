import { ZkError } from '../errors.js';
import { ErrorCode } from '../protocol/constants.js';
import { validatePath } from './paths.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ParsedConnectString {
  hosts: HostPort[];
  /** '' when there is no chroot; otherwise a path like '/app' (no trailing slash). */
  chroot: string;
}

const defaultPort = 2181;

/**
 * Parses "h1:2181,h2:2182/app" the way ZooKeeper's ConnectStringParser does: a comma list of
 * host[:port] (IPv6 in brackets), then an optional chroot path that applies to every host.
 */
export function parseConnectString(connectString: string): ParsedConnectString {
  const text = connectString.trim();
  if (text === '') throw new ZkError(ErrorCode.BADARGUMENTS, 'empty connect string');
  const slash = text.indexOf('/');
  let chroot = '';
  let hostPart = text;
  if (slash >= 0) {
    chroot = text.slice(slash);
    hostPart = text.slice(0, slash);
    if (chroot === '/') chroot = '';
    if (chroot !== '') validatePath(chroot, false);
  }
  const hosts: HostPort[] = [];
  for (const raw of hostPart.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    hosts.push(parseHostPort(entry));
  }
  if (hosts.length === 0) throw new ZkError(ErrorCode.BADARGUMENTS, `no host in connect string '${connectString}'`);
  return { hosts, chroot };
}

function parseHostPort(entry: string): HostPort {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) throw new ZkError(ErrorCode.BADARGUMENTS, `unclosed '[' in host '${entry}'`);
    const host = entry.slice(1, close);
    const rest = entry.slice(close + 1);
    return { host, port: rest.startsWith(':') ? parsePort(rest.slice(1), entry) : defaultPort };
  }
  const colon = entry.lastIndexOf(':');
  if (colon < 0) return { host: entry, port: defaultPort };
  return { host: entry.slice(0, colon), port: parsePort(entry.slice(colon + 1), entry) };
}

function parsePort(text: string, entry: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new ZkError(ErrorCode.BADARGUMENTS, `invalid port in host '${entry}'`);
  }
  return port;
}

/** Fisher-Yates shuffle, like StaticHostProvider's initial shuffle. */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
