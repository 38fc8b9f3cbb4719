import net from 'node:net';
import { fourLetterWord as fourLetterWordAt } from '../../src/admin/four-letter-client.js';
import { scaled } from '../../src/testing/wait.js';

export { waitFor } from '../../src/testing/wait.js';

// Helpers every suite that runs real servers needs: a free port, a condition with a
// deadline, a four-letter word.

/** A port the OS just handed out on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Sends a four-letter word to 127.0.0.1:port; resolves with the server's whole answer. */
export function fourLetterWord(port: number, word: string, timeoutMs = 2000): Promise<string> {
  return fourLetterWordAt('127.0.0.1', port, word, scaled(timeoutMs));
}
