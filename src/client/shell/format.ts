import { Perms } from '../../protocol/constants.js';
import type { ACL, Stat } from '../../protocol/records.js';
import type { WatchedEvent } from '../types.js';

function hexLong(v: bigint): string {
  return `0x${BigInt.asUintN(64, v).toString(16)}`;
}

function date(ms: bigint): string {
  return new Date(Number(ms)).toUTCString();
}

/** The Stat block zkCli prints for `stat` and `-s`. */
export function formatStat(stat: Stat): string {
  return [
    `cZxid = ${hexLong(stat.czxid)}`,
    `ctime = ${date(stat.ctime)}`,
    `mZxid = ${hexLong(stat.mzxid)}`,
    `mtime = ${date(stat.mtime)}`,
    `pZxid = ${hexLong(stat.pzxid)}`,
    `cversion = ${stat.cversion}`,
    `dataVersion = ${stat.version}`,
    `aclVersion = ${stat.aversion}`,
    `ephemeralOwner = ${hexLong(stat.ephemeralOwner)}`,
    `dataLength = ${stat.dataLength}`,
    `numChildren = ${stat.numChildren}`,
  ].join('\n');
}

const permLetters: [number, string][] = [
  [Perms.CREATE, 'c'],
  [Perms.DELETE, 'd'],
  [Perms.READ, 'r'],
  [Perms.WRITE, 'w'],
  [Perms.ADMIN, 'a'],
];

export function permsToString(perms: number): string {
  return permLetters.map(([bit, letter]) => (perms & bit ? letter : '')).join('');
}

export function parsePerms(text: string): number {
  let perms = 0;
  for (const ch of text) {
    const entry = permLetters.find(([, letter]) => letter === ch.toLowerCase());
    if (entry === undefined) throw new Error(`Invalid permission '${ch}' in '${text}' (use c, d, r, w, a)`);
    perms |= entry[0];
  }
  return perms;
}

/** zkCli's getAcl format: 'scheme,'id then ": perms". */
export function formatAcl(acl: ACL[]): string {
  return acl.map((a) => `'${a.id.scheme},'${a.id.id}\n: ${permsToString(a.perms)}`).join('\n');
}

/**
 * Parses zkCli's ACL text: comma-separated scheme:id:perms, where the id may itself contain
 * ':' (digest user:hash, ipv6); e.g. "world:anyone:cdrwa,digest:bob:abc=:r".
 */
export function parseAcl(text: string): ACL[] {
  return text.split(',').map((entry) => {
    const first = entry.indexOf(':');
    const last = entry.lastIndexOf(':');
    if (first < 0 || last === first) throw new Error(`Invalid ACL '${entry}' (expected scheme:id:perms)`);
    return { perms: parsePerms(entry.slice(last + 1)), id: { scheme: entry.slice(0, first), id: entry.slice(first + 1, last) } };
  });
}

export function formatEvent(event: WatchedEvent): string {
  return `WATCHER::\n\nWatchedEvent state:SyncConnected type:${event.type} path:${event.path}`;
}

/** Splits a command line into words; single and double quotes group, backslash escapes. */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote !== null) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) current += line[++i];
      else current += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      current += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote !== null) throw new Error('Unclosed quote');
  if (inWord) words.push(current);
  return words;
}
