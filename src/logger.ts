import { pino, destination, type Logger } from 'pino';

export type { Logger };

/** The one root logger; components take children with bindings. */
export function createRootLogger(options: { level?: string; destination?: number | string } = {}): Logger {
  const level = options.level ?? 'info';
  return pino({ level, base: { pid: process.pid } }, destination({ dest: options.destination ?? 1, sync: false }));
}

/** A logger that drops everything, for library users and tests that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function hex(id: bigint): string {
  return '0x' + BigInt.asUintN(64, id).toString(16);
}
