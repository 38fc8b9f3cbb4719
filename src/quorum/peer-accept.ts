// The accepting side of peer connections: a caller proves who it is (TLS, then the hello from
// its configured address) before its connection may become a peer's link.
import type { Socket } from 'node:net';
import { checkServerIdentity, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { PeerConnectContext } from './peer-dial.js';
import {
  HandshakeReader,
  HandshakeRefused,
  checkDialerProof,
  decodeHello,
  decodeProof,
  encodeHandshakeFrame,
  normaliseAddress,
  resolveAddresses,
  welcomeFrame,
} from './peer-handshake.js';
import { helloTimeoutMs, peerHandshakesMax } from './peer-options.js';

/**
 * An incoming connection must prove who it is before it may speak: TLS first when it is on
 * (a certificate our CA signed), then the hello. The whole of it within helloTimeoutMs.
 */
export function acceptPeerConnection(ctx: PeerConnectContext, raw: Socket): void {
  // Read now: a destroyed socket no longer knows its peer's address.
  const address = raw.remoteAddress;
  if (ctx.pending.size >= peerHandshakesMax) {
    ctx.log.warn({ address, handshakes: ctx.pending.size }, 'too many peer handshakes in progress; connection refused');
    raw.destroy();
    return;
  }
  raw.setNoDelay(true);
  raw.on('error', () => undefined);
  ctx.pending.add(raw);
  let reader: HandshakeReader | null = null;
  const timer = setTimeout(() => {
    if (reader !== null) return reader.fail(new HandshakeRefused('no hello within the handshake timeout'));
    ctx.log.warn({ address, reason: 'no TLS handshake within the handshake timeout' }, 'peer TLS handshake refused');
    raw.destroy();
  }, helloTimeoutMs);
  const settled = (): void => {
    clearTimeout(timer);
    ctx.pending.delete(raw);
  };
  raw.once('close', settled);
  const greet = (socket: Socket): void => {
    reader = new HandshakeReader(socket);
    greetCaller(ctx, socket, reader, address, settled);
  };
  if (ctx.tls === null) return greet(raw);
  // A TLS server of its own for this one connection (documented: a server takes injected
  // connections), so that its verdict is known to be about this caller and its address.
  const tlsServer = createTlsServer({
    key: ctx.tls.key, cert: ctx.tls.cert, ca: [...ctx.tls.ca], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
  });
  tlsServer.once('secureConnection', (socket: TLSSocket) => greet(socket));
  tlsServer.once('tlsClientError', (err: Error, socket: TLSSocket) => {
    if (!ctx.isStopped()) ctx.log.warn({ address, reason: socket.authorizationError?.toString() ?? err.message }, 'peer TLS handshake refused');
  });
  tlsServer.emit('connection', raw);
}

function greetCaller(ctx: PeerConnectContext, socket: Socket, reader: HandshakeReader, address: string | undefined, settled: () => void): void {
  const claimed: { sid?: number } = {};
  handshakeAsAcceptor(ctx, socket, reader, claimed).then(
    (sid) => {
      settled();
      if (ctx.isStopped()) return socket.destroy();
      ctx.attach(sid, socket, reader.detach());
    },
    (err: Error) => {
      settled();
      socket.destroy();
      if (!ctx.isStopped()) ctx.log.warn({ address, claimedSid: claimed.sid, reason: err.message }, 'peer connection refused');
    },
  );
}

async function handshakeAsAcceptor(ctx: PeerConnectContext, socket: Socket, reader: HandshakeReader, claimed: { sid?: number }): Promise<number> {
  const hello = decodeHello(await reader.next());
  claimed.sid = hello.sid;
  await checkCaller(ctx, socket, hello.sid);
  const welcome = welcomeFrame(ctx.secret, hello, ctx.options.self);
  socket.write(encodeHandshakeFrame(welcome));
  checkDialerProof(ctx.secret, hello, welcome, decodeProof(await reader.next()));
  return hello.sid;
}

/** The hello's id must be a configured peer that dials us, calling from that peer's own address. */
async function checkCaller(ctx: PeerConnectContext, socket: Socket, sid: number): Promise<void> {
  const self = ctx.options.self;
  const spec = ctx.options.peers.find((p) => p.sid === sid);
  if (sid === self) throw new HandshakeRefused(`the hello names this server's own id ${sid}`);
  if (spec === undefined) throw new HandshakeRefused(`server ${sid} is not in the configuration`);
  if (sid < self) throw new HandshakeRefused(`server ${sid} has a smaller id: this server dials it, never the reverse`);
  const address = normaliseAddress(socket.remoteAddress);
  const expected = await resolveAddresses(spec.host).catch(() => [] as string[]);
  if (!expected.includes(address)) {
    throw new HandshakeRefused(`address ${address} is not server.${sid}'s host ${spec.host} (${expected.join(', ') || 'unresolved'})`);
  }
  if (ctx.tls !== null && ctx.tls.hostnameVerification) {
    const problem = checkServerIdentity(spec.host, (socket as TLSSocket).getPeerCertificate());
    if (problem !== undefined) throw new HandshakeRefused(`its certificate does not name ${spec.host}: ${problem.message}`);
  }
}
