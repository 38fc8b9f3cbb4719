// The client's path check (ZooKeeper's PathUtils.validatePath rules, docs/protocol.md 12.1): what
// it refuses and the reason it gives.
import { describe, expect, it } from 'vitest';
import { validatePath } from '../../src/client/paths.js';

function problem(path: string, sequential = false): string | null {
  try {
    validatePath(path, sequential);
    return null;
  } catch (err) {
    return (err as Error).message.replace(/^.*?: /, '');
  }
}

describe('validatePath', () => {
  it('accepts ordinary paths, dotted names and a sequential prefix ending in /', () => {
    for (const path of ['/', '/a', '/a/b/c', '/.a', '/a/..b', '/a/b.', '/zk-tests/c123', '/\u00e9t\u00e9']) expect(problem(path)).toBeNull();
    expect(problem('/a/', true)).toBeNull();
    expect(problem('/', true)).toBeNull();
  });

  it('names what is wrong', () => {
    const cases: [string, boolean, string][] = [
      ['', false, 'path must not be empty'],
      ['a/b', false, 'path must start with /'],
      ['/a/', false, 'path must not end with /'],
      ['//', false, 'path must not end with /'],
      ['//', true, 'empty node name'],
      ['/a//b', false, 'empty node name'],
      ['/a//', true, 'empty node name'],
      ['/.', false, "relative node name '.'"],
      ['/a/..', false, "relative node name '..'"],
      ['/a/../b', false, "relative node name '..'"],
      ['/./', true, "relative node name '.'"],
      ['/a\u0000b', false, 'null character at index 2'],
      ['/ab\u0001', false, 'invalid character at index 3'],
      ['/a\u007f', false, 'invalid character at index 2'],
      ['/\ud800x', false, 'invalid character at index 1'],
      ['/a\ufff0', false, 'invalid character at index 2'],
      // Names are checked before characters.
      ['/\u0001//b', false, 'empty node name'],
    ];
    for (const [path, sequential, reason] of cases) expect({ path, reason: problem(path, sequential) }).toEqual({ path, reason });
  });

  it('says which path it refused', () => {
    expect(() => validatePath('/a//b')).toThrow("Invalid path '/a//b': empty node name");
  });
});
