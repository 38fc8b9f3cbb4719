// A connection the server closes after its last answer (MARSHALLINGERROR, then close) while it
// had stopped reading from it (a write pending at the head of its queue and the queue full) must
// still see the client go: its socket closes, and the server can stop. Found by the client-port
// fuzzer through a follower: such sockets stayed open for good (one descriptor each), and SIGTERM
// left the member running until it was killed.
import { afterAll, describe, expect, it } from 'vitest';
import { OpCode } from '../../src/protocol/constants.js';
import { connectionQueueMax } from '../../src/server/connection.js';
import type { ServerNode } from '../../src/server/node.js';
import { waitFor, withDeadline } from '../../src/testing/wait.js';
import { createBody, pathWatchBody, RawSession, requestFrame } from '../protocol/raw-requests.js';
import { startServer } from './harness.js';

let server: ServerNode | undefined;
afterAll(() => {
  server?.closeAllConnections('test over');
});

describe('a connection closed after its last answer while the server was not reading from it', () => {
  it('closes once the client has gone, so that the server stops', async () => {
    server = await startServer();
    const s = await RawSession.open(server.port);
    // A create (a write, answered after it commits), reads that fill the queue behind it (the
    // server stops reading), and an ACL whose world id is null (MARSHALLINGERROR, then close).
    const burst: Buffer[] = [requestFrame(1, OpCode.create, createBody({ path: '/c' }))];
    for (let xid = 2; xid <= connectionQueueMax + 8; xid++) burst.push(requestFrame(xid, OpCode.exists, pathWatchBody('/')));
    burst.push(requestFrame(1000, OpCode.create, createBody({ path: '/n', acl: [{ perms: 31, scheme: 'world', id: null }] })));
    s.socket.write(Buffer.concat(burst));
    // More requests, arriving while the server is not reading: they must not keep the socket open.
    s.socket.write(Buffer.concat([requestFrame(1001, OpCode.exists, pathWatchBody('/')), requestFrame(1002, OpCode.exists, pathWatchBody('/'))]));
    await waitFor('the server to close the connection', () => s.closed, { timeoutMs: 5000 });
    expect(s.replies.find((r) => r.xid === 1)?.err).toBe(0);
    await expect(withDeadline(server.stop(), 5000, 'the server to stop')).resolves.toBeUndefined();
  });
});
