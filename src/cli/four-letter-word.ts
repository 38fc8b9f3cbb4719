import { parseArgs } from 'node:util';
import { fourLetterWord } from '../admin/four-letter-client.js';
import { parseConnectString } from '../client/connect-string.js';
import { readTlsFiles } from '../client/tls-files.js';
import type { ClientTlsOptions } from '../client/types.js';

const usage = 'usage: zkts 4lw <word> [host:port] [--expect <answer>] [--tls-ca F] [--tls-cert F --tls-key F]   (default 127.0.0.1:2181)\n';

/**
 * `zkts 4lw srvr 127.0.0.1:2181`: what `echo srvr | nc 127.0.0.1 2181` does, without nc.
 * With `--expect imok` it exits 1 unless the answer is exactly that: a health check for an
 * image that has no shell to compare with.
 */
export async function runFourLetterWord(args: string[]): Promise<number> {
  let parsed: { values: { expect?: string; 'tls-ca'?: string; 'tls-cert'?: string; 'tls-key'?: string }; positionals: string[] };
  try {
    const file = { type: 'string' } as const;
    parsed = parseArgs({ args, allowPositionals: true, options: { expect: { type: 'string' }, 'tls-ca': file, 'tls-cert': file, 'tls-key': file } });
  } catch (err) {
    process.stderr.write(`zkts 4lw: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  const [word, address = '127.0.0.1:2181', ...extra] = parsed.positionals;
  if (word === undefined || !/^[a-z]{4}$/.test(word) || extra.length > 0) {
    process.stderr.write(usage);
    return 2;
  }
  let host: { host: string; port: number };
  let tls: ClientTlsOptions | undefined;
  try {
    tls = readTlsFiles({ ca: parsed.values['tls-ca'], cert: parsed.values['tls-cert'], key: parsed.values['tls-key'] });
    const hosts = parseConnectString(address);
    if (hosts.hosts.length !== 1 || hosts.chroot !== '') throw new Error(`one host:port, not '${address}'`);
    host = hosts.hosts[0]!;
  } catch (err) {
    process.stderr.write(`zkts 4lw: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  let answer: string;
  try {
    answer = await fourLetterWord(host.host, host.port, word, 5000, tls);
  } catch (err) {
    process.stderr.write(`zkts 4lw: ${word} to ${host.host}:${host.port}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(answer);
  const expected = parsed.values.expect;
  if (expected !== undefined && answer.trim() !== expected) {
    process.stderr.write(`zkts 4lw: ${word} to ${host.host}:${host.port} answered '${answer.trim()}', not '${expected}'\n`);
    return 1;
  }
  return 0;
}
