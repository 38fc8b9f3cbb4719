import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

/** zoo.cfg values: each parser names the key in the error it throws. */

export type Getter = (key: string) => string | undefined;

export function intValue(key: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(key, `'${raw}' is not an integer`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(key, `${n} is outside ${min}..${max}`);
  return n;
}

export function boolValue(key: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === 'yes') return true;
  if (v === 'false' || v === 'no') return false;
  throw new ConfigError(key, `'${raw}' is not true or false`);
}

export function portValue(key: string, raw: string): number {
  return intValue(key, raw, 0, 65535);
}

/** A path from zoo.cfg: relative ones are taken from the config file's folder. */
export function pathValue(base: string, raw: string): string {
  return isAbsolute(raw) ? raw : resolve(base, raw);
}
