import { describe, expect, it } from 'vitest';
import { pathProblem } from '../../src/data/path.js';

describe('znode paths', () => {
  it.each(['/', '/a', '/a/b', '/a.b/..c', '/ä/日本', '/a-/0000000001', '/.../x'])('accepts %s', (p) => {
    expect(pathProblem(p)).toBeNull();
  });

  it.each([
    ['', /empty/],
    ['a', /start with/],
    ['/a/', /end with/],
    ['/a//b', /empty segment/],
    ['/a/./b', /relative/],
    ['/a/..', /relative/],
    ['/.', /relative/],
    ['/a\u0000b', /null character/],
    ['/a\u0001', /U\+0001/],
    ['/a\u007f', /U\+007f/],
    ['/\ud83d\ude00', /U\+d83d/],
    ['/a\ufff0', /U\+fff0/],
  ])('refuses %j', (p, why) => {
    expect(pathProblem(p)).toMatch(why);
  });
});
