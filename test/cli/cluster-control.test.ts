// The client side of the cluster's control endpoint: how long `zkts cluster <subcommand>` waits
// for an answer, against the real endpoint with a handler that takes its time.
import { afterEach, describe, expect, it } from 'vitest';
import { newToken, send, startControlServer, type ControlFile, type ControlServer, type Reply } from '../../src/cli/cluster-control.js';

/** Node's global agent drops a socket silent for this long unless the request sets its own timeout. */
const agentIdleMs = 5_000;

let server: ControlServer | null = null;
let answerNow: (() => void) | null = null;

afterEach(async () => {
  answerNow?.();
  await server?.close();
  server = null;
});

/** An endpoint whose every answer comes `delayMs` after the request (never: only at clean-up). */
async function slowCluster(delayMs: number | null): Promise<ControlFile> {
  const token = newToken();
  server = await startControlServer(token, () =>
    new Promise<Reply>((resolve) => {
      answerNow = () => resolve({ ok: true, message: 'done' });
      if (delayMs !== null) setTimeout(answerNow, delayMs);
    }));
  return { version: 1, pid: process.pid, port: server.port, token };
}

describe('cluster control client', () => {
  it('a command left unanswered fails naming the deadline it waited', async () => {
    const control = await slowCluster(null);
    await expect(send(control, { command: 'status' }, () => undefined, 300)).rejects.toThrow(`the cluster (pid ${process.pid}) sent nothing for 300 ms`);
  });

  it('a command answered after a silence longer than node\'s agent allows still gets its answer', async () => {
    const control = await slowCluster(agentIdleMs + 500);
    await expect(send(control, { command: 'status' }, () => undefined)).resolves.toEqual({ ok: true, message: 'done' });
  }, 20_000);
});
