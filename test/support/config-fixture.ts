// Config parsing tests with real files: test certificates, a temporary directory for the
// zoo.cfg and the files it names, and the refusal a config must meet. Registers its own
// beforeAll/afterAll, so call it at the top of a test file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { buildConfig, parseProperties, type ParseResult } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { makeTestCertificates, type TestCertificates } from './certs.js';

export interface ConfigFixture {
  readonly certs: TestCertificates;
  readonly dir: string;
  /** Parses `lines` after the base lines, as a zoo.cfg in `dir`. */
  parse(lines: string[]): ParseResult;
  /** The ConfigError `lines` are refused with; throws when they are accepted. */
  refusal(lines: string[]): ConfigError;
  /** Writes `dir/name` and returns its path. */
  file(name: string, text: string | Uint8Array): string;
}

export function configFixture(prefix: string, baseLines: (dir: string) => string[]): ConfigFixture {
  let certs: TestCertificates | undefined;
  let dir: string | undefined;
  beforeAll(() => {
    certs = makeTestCertificates();
    dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterAll(() => {
    certs?.remove();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  const fixture: ConfigFixture = {
    get certs() {
      return certs!;
    },
    get dir() {
      return dir!;
    },
    parse: (lines) => buildConfig(parseProperties([...baseLines(dir!), ...lines].join('\n')), path.join(dir!, 'zoo.cfg')),
    refusal: (lines) => {
      try {
        fixture.parse(lines);
      } catch (err) {
        if (err instanceof ConfigError) return err;
        throw err;
      }
      throw new Error(`accepted: ${lines.join('; ')}`);
    },
    file: (name, text) => {
      const p = path.join(dir!, name);
      writeFileSync(p, text);
      return p;
    },
  };
  return fixture;
}
