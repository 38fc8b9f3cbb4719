import { createWriteStream, type WriteStream } from 'node:fs';

/** A pino line as parsed JSON. */
export type LogRecord = Record<string, unknown> & { msg?: string; level?: number };

/** Lines of a member's output kept in memory (the log file, when there is one, has all of them). */
export const logRingLines = 4_000;
/** Characters of standard error kept in memory. */
const stderrTailChars = 16_000;

/**
 * Everything a member process writes: appended to its log file, the last lines kept in memory,
 * its pino lines parsed (for tests that look for an event), standard error kept apart too.
 */
export class MemberLog {
  /** Lines seen so far; a mark to pass to `find` to look only at what came later. */
  total = 0;
  stderr = '';
  private readonly lines: string[] = [];
  private readonly records: { index: number; record: LogRecord }[] = [];
  private readonly listeners = new Set<(record: LogRecord) => void>();
  private readonly partial = { stdout: '', stderr: '' };
  private readonly file: WriteStream | null;

  constructor(file: string | null) {
    this.file = file === null ? null : createWriteStream(file, { flags: 'a' });
    this.file?.on('error', () => undefined);
  }

  push(chunk: Buffer, stream: 'stdout' | 'stderr'): void {
    this.file?.write(chunk);
    const text = chunk.toString('utf8');
    if (stream === 'stderr') this.stderr = (this.stderr + text).slice(-stderrTailChars);
    const parts = (this.partial[stream] + text).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) this.add(line, stream);
  }

  /** Writes a line of the launcher's own (start, kill, ...) among the member's. */
  mark(text: string): void {
    const line = `---- launcher: ${text} ----`;
    this.file?.write(`${line}\n`);
    this.add(line, 'stderr');
  }

  /** Calls `listener` with every pino record from now on; returns a function that stops it. */
  onRecord(listener: (record: LogRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** pino records with this msg seen after line `since` (a value of `total`). */
  find(msg: string, since = 0): LogRecord[] {
    return this.records.filter((r) => r.index > since && r.record.msg === msg).map((r) => r.record);
  }

  /** The last `count` lines (of those `keep` accepts, when given), a line still being written included. */
  tail(count: number, keep?: (line: string) => boolean): string {
    const pending = [this.partial.stdout, this.partial.stderr].filter((p) => p.length > 0);
    const lines = [...this.lines, ...pending];
    return (keep === undefined ? lines : lines.filter(keep)).slice(-count).join('\n');
  }

  close(): Promise<void> {
    const file = this.file;
    if (file === null || file.closed) return Promise.resolve();
    return new Promise((resolve) => file.end(() => resolve()));
  }

  private add(line: string, stream: 'stdout' | 'stderr'): void {
    this.total++;
    this.lines.push(line);
    if (this.lines.length > logRingLines) this.lines.splice(0, this.lines.length - logRingLines);
    if (stream !== 'stdout' || !line.startsWith('{')) return;
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      return;
    }
    this.records.push({ index: this.total, record });
    if (this.records.length > logRingLines) this.records.splice(0, this.records.length - logRingLines);
    for (const listener of [...this.listeners]) listener(record);
  }
}
