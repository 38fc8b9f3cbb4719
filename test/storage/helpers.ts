import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { afterEach } from 'vitest';

/** A fresh directory under os.tmpdir(), removed after the test. */
const created: string[] = [];
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'zkts-storage-'));
  created.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of created.splice(0)) await rm(dir, { recursive: true, force: true });
});

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines are kept for assertions. */
export function captureLogger(): { log: Logger; lines: LogLine[]; warnings: () => LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { log, lines, warnings: () => lines.filter((line) => line.level === 40) };
}

export function payloadFor(zxid: bigint, bytes = 32): Buffer {
  const payload = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) payload[i] = Number((zxid + BigInt(i)) % 251n);
  return payload;
}

/** zxid for epoch e, counter c. */
export function zxidOf(epoch: number, counter: number): bigint {
  return (BigInt(epoch) << 32n) | BigInt(counter);
}
