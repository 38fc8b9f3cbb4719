import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The consensus core must stay a deterministic state machine (docs/design.md): no clock, no
// randomness, no I/O, no logging. The shell files that do I/O are listed here by name.
const here = dirname(fileURLToPath(import.meta.url));
const quorumDir = resolve(here, '../../src/quorum');
const shellFiles = new Set(['peer-transport.ts', 'peer-handshake.ts', 'peer-dial.ts', 'peer-accept.ts', 'peer-frames.ts']);
const forbidden: [RegExp, string][] = [
  [/from ['"]node:/, 'a node:* import'],
  [/from ['"](pino|msgpackr|net|fs|crypto|timers)['"]/, 'an I/O, logging or codec library import'],
  [/\bDate\.now\(|\bnew Date\(/, 'a clock read'],
  [/\bMath\.random\(/, 'unseeded randomness'],
  [/\bset(Timeout|Interval|Immediate)\(/, 'a timer'],
  [/\bprocess\./, 'process state'],
];

describe('the consensus core is pure', () => {
  const files = readdirSync(quorumDir).filter((f) => f.endsWith('.ts') && !shellFiles.has(f));

  it('has core files to check', () => {
    expect(files.length).toBeGreaterThan(8);
  });

  it.each(files)('%s reads no clock, draws no randomness and does no I/O', (file) => {
    const text = readFileSync(join(quorumDir, file), 'utf8');
    const found = forbidden.filter(([pattern]) => pattern.test(text)).map(([, what]) => what);
    expect(found).toEqual([]);
  });
});
