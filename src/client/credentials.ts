import { ErrorCode, OpCode, Xid } from '../protocol/constants.js';
import { JuteWriter } from '../protocol/jute.js';
import { AuthPacketCodec, RequestHeaderCodec } from '../protocol/records.js';
import { zkError, type ZooKeeperError } from './errors.js';

interface Credential {
  scheme: string;
  auth: Buffer;
  /** The caller of addAuth, until the first reply for this credential. */
  waiter: { resolve: () => void; reject: (err: Error) => void } | null;
}

type Write = (frame: Buffer) => void;

/**
 * The credentials of a session, sent again on every connection. Their replies come back on
 * their own xid (-4), in the order the packets were sent.
 */
export class Credentials {
  private readonly all: Credential[] = [];
  private readonly sent: Credential[] = [];

  /** Remembers a credential; `write` sends it now (null while disconnected). */
  add(scheme: string, auth: Buffer, write: Write | null): Promise<void> {
    return new Promise((resolve, reject) => {
      const credential: Credential = { scheme, auth, waiter: { resolve, reject } };
      this.all.push(credential);
      if (write !== null) this.send(credential, write);
    });
  }

  /** A new connection: every credential goes first, before anything else. */
  sendAll(write: Write): void {
    for (const credential of this.all) this.send(credential, write);
  }

  /** Settles the oldest credential sent; returns the error when the server refused it. */
  reply(err: number): ZooKeeperError | null {
    const credential = this.sent.shift();
    const waiter = credential?.waiter ?? null;
    if (credential !== undefined) credential.waiter = null;
    if (err === ErrorCode.OK) {
      waiter?.resolve();
      return null;
    }
    const error = zkError(err, undefined, `Authentication failed for scheme '${credential?.scheme ?? '?'}'`);
    waiter?.reject(error);
    return error;
  }

  /** The connection is gone: no reply is coming for what was sent, nor for the waiters. */
  failAll(error: Error): void {
    this.sent.splice(0);
    for (const credential of this.all) {
      credential.waiter?.reject(error);
      credential.waiter = null;
    }
  }

  private send(credential: Credential, write: Write): void {
    const w = new JuteWriter();
    RequestHeaderCodec.write(w, { xid: Xid.auth, type: OpCode.auth });
    AuthPacketCodec.write(w, { type: 0, scheme: credential.scheme, auth: credential.auth });
    this.sent.push(credential);
    write(w.frame());
  }
}
