// ClientPort on real sockets: the per-address limit (maxClientCnxns) and the port's total
// (maxCnxns) are separate, a closed connection frees its slot, and a port in use is a
// StartupError that names the config key.
import { createConnection, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StartupError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { ClientPort, type ClientPortSpec } from '../../src/server/client-port.js';
import { waitFor } from '../support/net.js';

interface Client {
  socket: Socket;
  closed: boolean;
}

function connect(port: number, localAddress: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port, localAddress });
    const client: Client = { socket, closed: false };
    socket.once('connect', () => resolve(client));
    socket.once('error', reject);
    socket.on('close', () => (client.closed = true));
    socket.on('error', () => undefined);
  });
}

describe('ClientPort', () => {
  const ports: ClientPort[] = [];
  const accepted: Socket[] = [];
  const clients: Client[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    for (const s of accepted.splice(0)) s.destroy();
    for (const p of ports.splice(0)) await p.close();
  });

  async function listen(limits: Partial<ClientPortSpec>, refused: string[] = []): Promise<ClientPort> {
    const spec: ClientPortSpec = { key: 'clientPort', port: 0, address: '127.0.0.1', perAddressMax: 0, totalMax: 0, tls: null, handshakeTimeoutMs: 10_000, ...limits };
    const port = new ClientPort(spec, silentLogger(), (socket) => accepted.push(socket), (why, address) => refused.push(`${why} ${address}`));
    await port.listen();
    ports.push(port);
    return port;
  }

  async function open(port: ClientPort, from: string): Promise<Client> {
    const client = await connect(port.port, from);
    clients.push(client);
    return client;
  }

  it('refuses a third connection from one address at maxClientCnxns 2, while another address connects', async () => {
    const refused: string[] = [];
    const port = await listen({ perAddressMax: 2 }, refused);
    await open(port, '127.0.0.1');
    await open(port, '127.0.0.1');
    const third = await open(port, '127.0.0.1');
    const other = await open(port, '127.0.0.2');
    await waitFor('the third connection from 127.0.0.1 to be closed', () => third.closed);
    await waitFor('three connections to be admitted', () => port.connections === 3);
    expect(other.closed).toBe(false);
    expect(refused).toEqual(['perAddress 127.0.0.1']);
  });

  it('refuses beyond maxCnxns whatever the address, and admits again once a connection closes', async () => {
    const refused: string[] = [];
    const port = await listen({ totalMax: 2, perAddressMax: 10 }, refused);
    const a = await open(port, '127.0.0.1');
    await open(port, '127.0.0.2');
    const c = await open(port, '127.0.0.3');
    await waitFor('the connection beyond the total to be closed', () => c.closed);
    expect(refused).toEqual(['total 127.0.0.3']);
    a.socket.destroy();
    await waitFor('its slot to be freed', () => port.connections === 1);
    const d = await open(port, '127.0.0.3');
    await waitFor('the new connection to be admitted', () => port.connections === 2);
    expect(d.closed).toBe(false);
  });

  it('names the config key, the port and EADDRINUSE when the port is taken', async () => {
    const first = await listen({});
    const second = new ClientPort({ ...first.spec, port: first.port }, silentLogger(), () => undefined, () => undefined);
    const failure = await second.listen().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as StartupError).key).toBe('clientPort');
    expect((failure as StartupError).message).toContain(`= ${first.port}: cannot listen on 127.0.0.1:${first.port}`);
    expect((failure as StartupError).message).toContain('(EADDRINUSE)');
  });
});
