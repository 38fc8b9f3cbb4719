import { ErrorCode, errorName } from './protocol/constants.js';

/** An error that carries a ZooKeeper error code; what the client port answers with. */
export class ZkError extends Error {
  readonly code: number;
  readonly codeName: string;
  constructor(code: number, message?: string, options?: { cause?: unknown }) {
    super(message ?? errorName(code), options);
    this.name = 'ZkError';
    this.code = code;
    this.codeName = errorName(code);
  }
  static of(code: number, message?: string): ZkError {
    return new ZkError(code, message);
  }
}

/** Raised when bytes from the network cannot be decoded; the connection that sent them is closed. */
export class ProtocolError extends Error {
  readonly code = 'ERR_ZK_PROTOCOL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
  }
}

/** A configuration that cannot be used; names the key, the value and why. */
export class ConfigError extends Error {
  readonly code = 'ERR_ZK_CONFIG';
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(`config key '${key}': ${message}`, options);
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** A storage file that cannot be trusted; names the file and the byte offset. */
export class StorageError extends Error {
  readonly code = 'ERR_ZK_STORAGE';
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, message: string, options?: { cause?: unknown }) {
    super(`${file} at offset ${offset}: ${message}`, options);
    this.name = 'StorageError';
    this.file = file;
    this.offset = offset;
  }
}

/** A broken invariant: a bug, never bad input. Crashes loudly. */
export class InvariantError extends Error {
  readonly code = 'ERR_ZK_INVARIANT';
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

/** Throws an InvariantError when `condition` is false. On hot paths pass the message as a function, so it is only built on failure. */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'function' ? message() : message);
}

export { ErrorCode };

/**
 * A resource the config names cannot be used at start-up: a port in use, a data directory
 * that is a file or not writable. Names the key, the value and the cause.
 */
export class StartupError extends Error {
  readonly code = 'ERR_ZK_STARTUP';
  readonly key: string;
  readonly value: string;
  constructor(key: string, value: string, message: string, options?: { cause?: unknown }) {
    super(`config key '${key}' = ${value}: ${message}`, options);
    this.name = 'StartupError';
    this.key = key;
    this.value = value;
  }
}
