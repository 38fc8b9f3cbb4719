import { readFileSync } from 'node:fs';
import type { ClientTlsOptions } from './types.js';

/** The PEM files the command line names: `--tls-ca`, `--tls-cert`, `--tls-key`. */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** The flags, by the option they fill. */
export const tlsFlags = { ca: '--tls-ca', cert: '--tls-cert', key: '--tls-key' } as const;

/**
 * Reads the files into client TLS options; undefined when no flag was given (plain TCP).
 * A file that cannot be read is an Error naming the flag and the file.
 */
export function readTlsFiles(files: TlsFiles): ClientTlsOptions | undefined {
  const options: ClientTlsOptions = {};
  for (const name of ['ca', 'cert', 'key'] as const) {
    const file = files[name];
    if (file === undefined) continue;
    try {
      options[name] = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${tlsFlags[name]} ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (Object.keys(options).length === 0) return undefined;
  if ((options.cert === undefined) !== (options.key === undefined)) throw new Error(`${tlsFlags.cert} and ${tlsFlags.key} go together`);
  return options;
}
