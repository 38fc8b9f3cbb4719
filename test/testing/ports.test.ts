// Port reservations (src/testing/ports.ts): a reserved port is never handed out by the OS, a
// member process may still listen on it, and once that process is gone the port refuses
// connections, as a free port would.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { portsShareable, reservePort } from '../../src/testing/ports.js';
import { waitFor } from '../../src/testing/wait.js';

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    socket.on('close', () => resolve(`data:${data}`));
  });
}

describe('port reservations', () => {
  it('a reserved port is never given out for bind(0) or an outgoing connection', async () => {
    const reservation = await reservePort();
    try {
      const listeners: net.Server[] = [];
      const sockets: net.Socket[] = [];
      const target = net.createServer((s) => s.on('error', () => undefined));
      await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
      try {
        for (let i = 0; i < 300; i++) {
          const server = net.createServer();
          await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
          listeners.push(server);
          const socket = net.connect((target.address() as net.AddressInfo).port, '127.0.0.1');
          await new Promise((resolve) => socket.once('connect', resolve));
          sockets.push(socket);
        }
        expect(listeners.map((s) => (s.address() as net.AddressInfo).port)).not.toContain(reservation.port);
        expect(sockets.map((s) => s.localPort)).not.toContain(reservation.port);
      } finally {
        for (const s of sockets) s.destroy();
        for (const l of listeners) l.close();
        target.close();
      }
    } finally {
      reservation.close();
    }
  });

  it('another process listens on a reserved port; once it is gone the port refuses connections', async () => {
    expect(await portsShareable()).toBe(true);
    const reservation = await reservePort();
    try {
      const child = spawn(process.execPath, ['-e', `require('net').createServer((c) => c.end('hi')).listen(${reservation.port}, '127.0.0.1', () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await waitFor('the child to listen', () => out.includes('listening'));
      expect(await connectOutcome(reservation.port)).toBe('data:hi');
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(await connectOutcome(reservation.port)).toBe('ECONNREFUSED');
    } finally {
      reservation.close();
    }
  });

  it('release lets the port go and renew takes it back; renew says when someone else took it meanwhile', async () => {
    const reservation = await reservePort();
    try {
      reservation.release();
      const squatter = net.createServer();
      await new Promise<void>((resolve) => squatter.listen(reservation.port, '127.0.0.1', resolve));
      expect(await reservation.renew()).toBe(false);
      await new Promise((resolve) => squatter.close(resolve));
      expect(await reservation.renew()).toBe(true);
      expect(await reservation.renew()).toBe(true);
      reservation.release();
      expect(await reservation.renew()).toBe(true);
    } finally {
      reservation.close();
    }
  });
});
