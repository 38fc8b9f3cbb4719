// How `zkts cluster <subcommand>` reaches the running `zkts cluster up`: HTTP on 127.0.0.1, on a
// port from the OS, with a random token. Both are in `<dataDir>/control.json`, which only the
// user can read (mode 0600), so only the user's own processes can drive the cluster. A request
// is one POST of a JSON ClusterRequest; the answer is JSON lines: progress lines, then the
// result. The endpoint checks everything it receives: no token, a wrong one, a body too large
// or malformed is refused with a status and a reason, and nothing it receives can stop it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { loopback } from '../testing/ports.js';
import { parseClusterRequest, type ClusterRequest } from './cluster-requests.js';

export const controlFileName = 'control.json';
export const controlPath = '/v1/request';
const bodyBytesMax = 64 * 1024;
/** Time a client gets to send its request (headers and body); the answer may take longer. */
const requestTimeoutMs = 10_000;
const headersTimeoutMs = 5_000;
/** How long a check of a control file left behind waits for an answer. */
const pingTimeoutMs = 3_000;
/**
 * How long a command may go without a byte of its answer. Always set: without it node's global
 * agent cuts the socket after 5 s of silence, shorter than a member start may take.
 */
export const commandIdleTimeoutMs = 60_000;

/** What `<dataDir>/control.json` holds. */
export interface ControlFile {
  version: 1;
  /** The `zkts cluster up` process. */
  pid: number;
  port: number;
  token: string;
}

/** The result of a request: the last line of the answer. */
export type Reply = { ok: true; message: string; data?: unknown } | { ok: false; error: string };

/** A progress line of a long request (a rolling restart, down). */
export type Progress = (line: string) => void;

export type Handler = (request: ClusterRequest, progress: Progress) => Promise<Reply>;

/** No cluster answers in that data directory. */
export class NoClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoClusterError';
  }
}

export function controlFilePath(dataDir: string): string {
  return path.join(dataDir, controlFileName);
}

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer ([0-9a-f]{64})$/.exec(header ?? '');
  if (match === null) return false;
  return timingSafeEqual(Buffer.from(match[1]!), Buffer.from(token));
}

function answer(res: ServerResponse, status: number, reply: Reply): void {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(`${JSON.stringify(reply)}\n`);
}

/** Reads a request body up to the limit; null when it is larger. */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > bodyBytesMax) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function serve(req: IncomingMessage, res: ServerResponse, token: string, handler: Handler): Promise<void> {
  if (req.url !== controlPath) return answer(res, 404, { ok: false, error: `no such endpoint; requests go to POST ${controlPath}` });
  if (req.method !== 'POST') return answer(res, 405, { ok: false, error: 'requests are POSTed' });
  if (!tokenMatches(req.headers.authorization, token)) return answer(res, 401, { ok: false, error: `a request needs the token in ${controlFileName} (Authorization: Bearer <token>)` });
  const body = await readBody(req);
  if (body === null) return answer(res, 413, { ok: false, error: `a request is at most ${bodyBytesMax} bytes` });
  let request: ClusterRequest;
  try {
    request = parseClusterRequest(JSON.parse(body.toString('utf8')));
  } catch (error) {
    return answer(res, 400, { ok: false, error: `bad request: ${(error as Error).message}` });
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', connection: 'close' });
  const progress: Progress = (line) => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ progress: line })}\n`);
  };
  let reply: Reply;
  try {
    reply = await handler(request, progress);
  } catch (error) {
    reply = { ok: false, error: (error as Error).message };
  }
  res.end(`${JSON.stringify(reply)}\n`);
}

export interface ControlServer {
  readonly port: number;
  /** Stops accepting requests; resolves once the ones under way have been answered. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (a port from the OS) for requests carrying `token`. */
export async function startControlServer(token: string, handler: Handler): Promise<ControlServer> {
  const server: Server = createServer({ requestTimeout: requestTimeoutMs, headersTimeout: headersTimeoutMs }, (req, res) => {
    serve(req, res, token, handler).catch((error: unknown) => {
      if (!res.headersSent) answer(res, 500, { ok: false, error: (error as Error).message });
      else res.destroy();
    });
  });
  // Garbage that is not HTTP gets node's 400 and a closed socket; nothing more.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, loopback, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

function parseControlFile(text: string, file: string): ControlFile {
  let value: Partial<ControlFile>;
  try {
    value = JSON.parse(text) as Partial<ControlFile>;
  } catch {
    throw new NoClusterError(`${file} is not a control file (not JSON); if no cluster runs there, remove it`);
  }
  if (value.version !== 1 || typeof value.pid !== 'number' || typeof value.port !== 'number' || typeof value.token !== 'string') throw new NoClusterError(`${file} is not a control file of this zkts version; if no cluster runs there, remove it`);
  return value as ControlFile;
}

/** The control file of the cluster running in `dataDir`; a NoClusterError says why there is none. */
export async function readControlFile(dataDir: string): Promise<ControlFile> {
  const file = controlFilePath(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NoClusterError(`no cluster is running in ${dataDir} (there is no ${controlFileName}); start one with: zkts cluster up --data-dir ${dataDir}`);
    throw new NoClusterError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseControlFile(text, file);
}

/**
 * Writes the control file, readable by the user only. When one is there already: a cluster
 * that still answers keeps it (and this throws); a file left by one that ended without
 * removing it is replaced.
 */
export async function claimControlFile(dataDir: string, control: ControlFile): Promise<void> {
  const file = controlFilePath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(control)}\n`);
      } finally {
        await handle.close();
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const other = await readControlFile(dataDir).catch(() => null);
    if (other !== null && (await answers(other))) throw new Error(`a cluster is already running in ${dataDir} (zkts cluster up, pid ${other.pid}); stop it with: zkts cluster down --data-dir ${dataDir}`);
    await rm(file, { force: true });
  }
  throw new Error(`cannot claim ${file}: another zkts cluster up is starting in ${dataDir}`);
}

/** Removes the control file if it is still this cluster's. */
export async function releaseControlFile(dataDir: string, token: string): Promise<void> {
  const current = await readControlFile(dataDir).catch(() => null);
  if (current?.token === token) await rm(controlFilePath(dataDir), { force: true });
}

/** Whether the cluster of that control file answers a status request. */
async function answers(control: ControlFile): Promise<boolean> {
  try {
    await send(control, { command: 'status' }, () => undefined, pingTimeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** Sends one request; resolves with its reply, passing progress lines on as they come. */
export function send(control: ControlFile, request: ClusterRequest, onProgress: Progress, timeoutMs = commandIdleTimeoutMs): Promise<Reply> {
  const body = JSON.stringify(request);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: loopback, port: control.port, method: 'POST', path: controlPath, headers: { authorization: `Bearer ${control.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs },
      (res) => {
        let pending = '';
        let reply: Reply | null = null;
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          const lines = (pending + text).split('\n');
          pending = lines.pop()!;
          for (const line of lines.filter((l) => l.trim() !== '')) {
            let parsed: Reply | { progress: string };
            try {
              parsed = JSON.parse(line) as Reply | { progress: string };
            } catch {
              req.destroy(new Error(`the cluster (pid ${control.pid}) answered something that is not JSON: ${line.slice(0, 200)}`));
              return;
            }
            if ('progress' in parsed) onProgress(parsed.progress);
            else reply = parsed;
          }
        });
        res.on('end', () => {
          if (reply !== null) resolve(reply);
          else reject(new Error(`the cluster (pid ${control.pid}) ended its answer without a result (HTTP ${res.statusCode})`));
        });
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error(`the cluster (pid ${control.pid}) went away before answering`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the cluster (pid ${control.pid}) sent nothing for ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') reject(new NoClusterError(`no cluster is running: ${controlFileName} names 127.0.0.1:${control.port} (pid ${control.pid}), which refuses connections; the file was left by a cluster that ended without removing it`));
      else if (error.code === 'ECONNRESET' || error.message === 'socket hang up') reject(new Error(`the cluster (pid ${control.pid}) went away before answering`));
      else reject(error);
    });
    req.end(body);
  });
}
