// Ports for member processes, from the OS and without races.
//
// A port found by binding :0 and closing again can be handed to someone else before the child
// binds it, and a member that is restarted needs its old port back after it was free for a
// while. So each port stays reserved for as long as its cluster lives: the launcher binds a
// socket to it with SO_REUSEADDR (libuv sets it on every TCP bind) and connects that socket to
// an anchor listener of its own. On Linux that socket keeps the port out of every ephemeral
// allocation (bind(0) and connect() skip a port bound this way) while a member, also binding
// with SO_REUSEADDR, may still listen on it (socket(7): reuse is refused only when a socket
// already listens there). A connection to the port of a member that is down is refused, as it
// would be without the reservation. What a reservation cannot stop is a process that got the
// same number earlier from a bind to port 0 it closed again (the usual "free port" helper) and
// listens on it later: a launch that finds a port taken starts over on new ports
// (withPortRetries in member.ts). Where the platform refuses the member's bind (BSD semantics),
// the reservation steps aside from just before each start until the member exits;
// `portsShareable()` says which applies.
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The loopback address the launcher's ports are on. */
export const loopback = '127.0.0.1';

/** A port held for a member; `release()` gives it back. */
export interface PortReservation {
  readonly port: number;
  /** Lets the port go until `renew()` (where members cannot bind a reserved port). */
  release(): void;
  /** Holds the port again after `release()`; false when someone else took it meanwhile. */
  renew(): Promise<boolean>;
  close(): void;
}

/** A listener for one reservation socket to connect to; its accepted end is kept quiet. */
function anchorServer(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.unref();
    });
    server.once('error', reject);
    server.listen(0, loopback, () => {
      server.unref();
      resolve(server);
    });
  });
}

interface Held {
  socket: Socket;
  anchor: Server;
}

/**
 * A socket bound to `port` (0: the OS chooses) on loopback and connected to an anchor of its
 * own. A fresh anchor each time: the last connection from the same port to the same anchor may
 * still be in TIME_WAIT, which would refuse the same pair of addresses.
 */
async function bindReservation(port: number): Promise<Held> {
  const anchor = await anchorServer();
  const target = (anchor.address() as AddressInfo).port;
  try {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ host: loopback, port: target, localAddress: loopback, localPort: port });
      s.once('connect', () => {
        s.off('error', reject);
        s.on('error', () => undefined);
        s.unref();
        resolve(s);
      });
      s.once('error', reject);
    });
    return { socket, anchor };
  } catch (error) {
    anchor.close();
    throw error;
  }
}

function letGo(held: Held | null): void {
  held?.socket.destroy();
  held?.anchor.close();
}

/** Reserves a port the OS chooses. */
export async function reservePort(): Promise<PortReservation> {
  let held: Held | null = await bindReservation(0);
  const port = held.socket.localPort!;
  return {
    port,
    release: () => {
      letGo(held);
      held = null;
    },
    renew: async () => {
      if (held !== null) return true;
      try {
        held = await bindReservation(port);
        return true;
      } catch {
        return false;
      }
    },
    close: () => {
      letGo(held);
      held = null;
    },
  };
}

let shareable: Promise<boolean> | null = null;

/** Whether a process may listen on a port this process has reserved (checked once, by trying it). */
export function portsShareable(): Promise<boolean> {
  shareable ??= (async () => {
    const reservation = await reservePort();
    try {
      const server = createServer();
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(reservation.port, loopback, () => resolve(true));
      });
      if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
      return ok;
    } finally {
      reservation.close();
    }
  })();
  return shareable;
}
