import { fourLetterWord as fourLetterWordAt } from '../../src/admin/four-letter-client.js';
import { reservePort } from '../../src/testing/ports.js';
import { scaled } from '../../src/testing/wait.js';

export { waitFor } from '../../src/testing/wait.js';

// Helpers every suite that runs real servers needs: a free port, a condition with a
// deadline, a four-letter word.

/**
 * A port from the OS on 127.0.0.1, reserved for the rest of this process (src/testing/ports.ts):
 * the caller may listen on it (Node binds with SO_REUSEADDR), and no other bind to port 0 on
 * this machine, in any process, is handed the same number meanwhile.
 */
export async function freePort(): Promise<number> {
  return (await reservePort()).port;
}

/** Sends a four-letter word to 127.0.0.1:port; resolves with the server's whole answer. */
export function fourLetterWord(port: number, word: string, timeoutMs = 2000): Promise<string> {
  return fourLetterWordAt('127.0.0.1', port, word, scaled(timeoutMs));
}
