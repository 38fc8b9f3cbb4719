import { createConnection, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ClientTlsOptions } from '../client/types.js';

function open(host: string, port: number, tls: ClientTlsOptions | undefined, connected: () => void): Socket {
  if (tls === undefined) return createConnection({ host, port }, connected);
  return tlsConnect({ host, port, ...tls, servername: tls.servername ?? (isIP(host) === 0 ? host : undefined) }, connected);
}

/** Sends a four-letter word and returns the server's whole answer (it closes after it); over TLS when `tls` is given. */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs = 2000, tls?: ClientTlsOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = open(host, port, tls, () => socket.write(word));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${word} to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** The Mode line of srvr: leader, follower, observer, standalone; null when not serving. */
export async function serverMode(host: string, port: number, timeoutMs = 2000): Promise<string | null> {
  try {
    const text = await fourLetterWord(host, port, 'srvr', timeoutMs);
    return /^Mode: (\S+)/m.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}
