import { fourLetterWord } from '../admin/four-letter-client.js';
import { parseConnectString } from '../client/connect-string.js';

const usage = 'usage: zkts 4lw <word> [host:port]   (default 127.0.0.1:2181)\n';

/** `zkts 4lw srvr 127.0.0.1:2181`: what `echo srvr | nc 127.0.0.1 2181` does, without nc. */
export async function runFourLetterWord(args: string[]): Promise<number> {
  const [word, address = '127.0.0.1:2181', ...extra] = args;
  if (word === undefined || !/^[a-z]{4}$/.test(word) || extra.length > 0) {
    process.stderr.write(usage);
    return 2;
  }
  let host: { host: string; port: number };
  try {
    const parsed = parseConnectString(address);
    if (parsed.hosts.length !== 1 || parsed.chroot !== '') throw new Error(`one host:port, not '${address}'`);
    host = parsed.hosts[0]!;
  } catch (err) {
    process.stderr.write(`zkts 4lw: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  try {
    process.stdout.write(await fourLetterWord(host.host, host.port, word, 5000));
    return 0;
  } catch (err) {
    process.stderr.write(`zkts 4lw: ${word} to ${host.host}:${host.port}: ${(err as Error).message}\n`);
    return 1;
  }
}
