import { createConnection, type Socket } from 'node:net';
import { buildConfig, type ServerConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/logger.js';
import { FrameDecoder } from '../../src/protocol/framing.js';
import { standaloneNode, type StandaloneNodeOptions } from '../../src/server/assemble.js';
import type { ServerNode } from '../../src/server/node.js';
import { scaled } from '../../src/testing/wait.js';

export { waitFor } from '../../src/testing/wait.js';

/** A standalone server in this process on an OS-chosen port; a fatal failure fails the test run. */
export async function startServer(
  props: Record<string, string | number | boolean> = {},
  options: Partial<StandaloneNodeOptions> = {},
): Promise<ServerNode> {
  const all = new Map<string, string>(
    Object.entries({
      tickTime: 2000,
      dataDir: '/tmp/zkts-unused',
      clientPort: 0,
      clientPortAddress: '127.0.0.1',
      '4lw.commands.whitelist': '*',
      extendedTypesEnabled: true,
      ...props,
    }).map(([k, v]) => [k, String(v)]),
  );
  const { config } = buildConfig(all, null);
  const onFatal = (err: unknown) => queueMicrotask(() => {
    throw err;
  });
  const server = standaloneNode({ config: config as ServerConfig, log: silentLogger(), onFatal, ...options });
  await server.start();
  return server;
}

/** A raw client socket that collects whole frames. */
export class RawConnection {
  readonly frames: Buffer[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  readonly socket: Socket;

  private constructor(port: number, localAddress?: string) {
    this.socket = createConnection({ host: '127.0.0.1', port, localAddress });
    this.socket.on('data', (chunk) => {
      for (const f of this.decoder.push(chunk)) this.frames.push(f);
    });
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => (this.closed = true));
  }

  /** Connects to 127.0.0.1:port, from `localAddress` when given (any 127.x.y.z on Linux). */
  static async open(port: number, localAddress?: string): Promise<RawConnection> {
    const c = new RawConnection(port, localAddress);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends raw bytes and collects everything until the server closes. */
export function rawExchange(port: number, bytes: Buffer, deadlineMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('server did not close the connection in time'));
    }, scaled(deadlineMs));
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', () => undefined);
  });
}
