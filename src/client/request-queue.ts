import { ErrorCode } from '../protocol/constants.js';
import { JuteWriter, type JuteReader } from '../protocol/jute.js';
import { RequestHeaderCodec, type ReplyHeader } from '../protocol/records.js';
import { zkError } from './errors.js';

/** One request on its way: the body writer and what to do with the reply. */
export interface Request {
  opcode: number;
  write: (w: JuteWriter) => void;
  /** Called with the reply (any err); settles the caller's promise. Must not throw. */
  handle: (header: ReplyHeader, reader: JuteReader) => void;
  /** Called instead of handle when the request will never get a reply. */
  fail: (err: Error) => void;
  xid?: number;
}

/** Where the client's calls go: the session's connection. */
export interface RequestSink {
  submit(request: Request): void;
}

const xidMax = 0x7fffffff;

/**
 * Requests held until a session is up, and those sent, in xid order: a server answers in
 * the order it was asked, so every reply must be for the oldest request sent.
 */
export class RequestQueue {
  private nextXid = 1;
  private readonly held: Request[] = [];
  private readonly sent: Request[] = [];

  hold(request: Request): void {
    this.held.push(request);
  }

  /** Takes the held requests, to be sent now. */
  release(): Request[] {
    return this.held.splice(0);
  }

  /** Gives the request the next xid and returns its frame; it now waits for its reply. */
  encode(request: Request): Buffer {
    const xid = this.nextXid;
    this.nextXid = xid >= xidMax ? 1 : xid + 1;
    request.xid = xid;
    const w = new JuteWriter();
    RequestHeaderCodec.write(w, { xid, type: request.opcode });
    request.write(w);
    this.sent.push(request);
    return w.frame();
  }

  /** The request a reply with this xid answers, or undefined when it is not the oldest sent. */
  answered(xid: number): Request | undefined {
    if (this.sent[0]?.xid !== xid) return undefined;
    return this.sent.shift();
  }

  get oldestXid(): number | undefined {
    return this.sent[0]?.xid;
  }

  /** Fails every request, sent or held: none of them will get a reply. */
  failAll(error: Error): void {
    for (const request of [...this.sent.splice(0), ...this.held.splice(0)]) request.fail(error);
  }
}

/** Submits a request and resolves with its decoded reply; a throw in decode rejects. */
export function call<T>(sink: RequestSink, opcode: number, write: (w: JuteWriter) => void, decode: (header: ReplyHeader, reader: JuteReader) => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    sink.submit({
      opcode,
      write,
      handle: (header, reader) => {
        try {
          resolve(decode(header, reader));
        } catch (err) {
          reject(err);
        }
      },
      fail: reject,
    });
  });
}

/** Throws the reply's error, if it carries one. */
export function checkReply(header: ReplyHeader, path?: string): void {
  if (header.err !== ErrorCode.OK) throw zkError(header.err, path);
}
